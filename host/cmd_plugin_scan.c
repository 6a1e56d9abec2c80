/* flowhost plugin-scan FILE: the scanner process of plugin lookups (plugin_scan.h). Run
 * by workers, with the report pipe on descriptor 3; not meant to be typed. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "plugin_scan.h"

int fh_cmd_plugin_scan(int argc, char **argv)
{
    struct stat st;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        puts("usage: flowhost plugin-scan FILE\n\n"
             "Opens FILE and reports its executor types on descriptor 3. The workers run it\n"
             "to find a type on the plugin path without opening every library there.");
        return 0;
    }
    if (argc != 2 || fstat(3, &st) != 0) {
        fputs("flowhost plugin-scan: usage: flowhost plugin-scan FILE (with a report pipe on "
              "descriptor 3; the workers run it)\n", stderr);
        return 2;
    }
    return fh_plugin_scan_report(argv[1], 3) == 0 ? 0 : 1;
}
