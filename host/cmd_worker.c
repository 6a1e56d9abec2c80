/* flowhost worker --spec FILE */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "worker.h"

static const char usage[] =
    "usage: flowhost worker --spec FILE\n"
    "\n"
    "Run one executor as described by an executor spec file, connected to the gateway\n"
    "the spec names. `flowhost run` starts these itself; there is rarely a reason to run\n"
    "one by hand.\n";

int fh_cmd_worker(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "--spec") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    return fh_worker_main(argv[2]);
}
