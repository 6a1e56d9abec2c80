/* flowhost docstore check|repair|compact DIR: looking after a docstore (docstore.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <flowhost/docstore.h>
#include <flowhost/error.h>

#include "commands.h"

static const char usage[] =
    "usage: flowhost docstore check|repair|compact DIR\n"
    "\n"
    "Look after a docstore: a directory holding docs.log, such as an indexer's\n"
    "WORKSPACE/index.\n"
    "\n"
    "  check DIR    read every record and list each damaged place and an unfinished last\n"
    "               record; changes nothing (a flow may be writing the docstore)\n"
    "  repair DIR   drop what is damaged and cut an unfinished last record, so that the\n"
    "               docstore opens again (stop the flow that writes it first). When\n"
    "               something is dropped the old log stays as DIR/docs.log.before-repair:\n"
    "               delete it once nobody needs the damaged bytes\n"
    "  compact DIR  rewrite the log without deleted and replaced documents (it needs free\n"
    "               space for the documents kept)\n"
    "\n"
    "Each finding is one line on stdout, 'DIR/docs.log: offset N: LENGTH bytes: WHAT',\n"
    "then one summary line.\n"
    "\n"
    "Exit status: check: 0 no damage (an unfinished last record is not damage), 1 damage\n"
    "found; repair and compact: 0 done (or nothing to do), 1 not done (in use, no room:\n"
    "nothing changed); all: 2 bad usage, no docstore, or one that cannot be read.\n";

typedef struct cli {
    const char *dir;
} cli;

static void print_finding(const fh_docstore_finding *f, void *user)
{
    const cli *c = user;
    printf("%s/docs.log: offset %" PRIu64 ": %" PRIu64 " bytes: %s%s%s%s%s\n", c->dir, f->offset,
           f->length, f->id ? "document '" : "", f->id ? f->id : "", f->id ? "': " : "",
           f->what, f->kind == FH_DOCSTORE_UNFINISHED ? " (a writer cuts it; nothing is lost)" : "");
}

/* "2 damaged places (1 document lost)" into BUF. */
static void damage_words(const fh_docstore_report *r, char *buf, size_t size)
{
    snprintf(buf, size, "%zu damaged place%s (%zu document%s lost%s)", r->damaged,
             r->damaged == 1 ? "" : "s", r->lost_documents, r->lost_documents == 1 ? "" : "s",
             r->damaged > r->lost_documents ? ", and whatever the unreadable records held" : "");
}

static int run_check(const char *dir)
{
    cli c = {dir};
    fh_docstore_report r;
    if (fh_docstore_check(dir, print_finding, &c, &r) != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return 2;
    }
    char damage[160];
    damage_words(&r, damage, sizeof damage);
    printf("%s: format %u, %zu document%s, %" PRIu64 " bytes; ", dir, r.format, r.documents,
           r.documents == 1 ? "" : "s", r.log_bytes);
    if (r.damaged)
        printf("%s: `flowhost docstore repair %s` drops %s\n", damage, dir,
               r.damaged == 1 ? "it" : "them");
    else
        printf("no damage%s\n", r.unfinished_bytes ? " (an unfinished last record)" : "");
    return r.damaged ? 1 : 0;
}

static int run_repair(const char *dir)
{
    cli c = {dir};
    fh_docstore_report r;
    int rc = fh_docstore_repair(dir, print_finding, &c, &r);
    if (rc != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return rc == FH_E_NOTFOUND || rc == FH_E_PARSE ? 2 : 1;
    }
    if (r.damaged) {
        char damage[160];
        damage_words(&r, damage, sizeof damage);
        printf("%s: repaired: %s dropped, %zu document%s kept; the old log is "
               "%s/docs.log.before-repair\n",
               dir, damage, r.documents, r.documents == 1 ? "" : "s", dir);
    } else if (r.rewritten) {
        printf("%s: upgraded from format %u to 2; %zu document%s\n", dir, r.format,
               r.documents, r.documents == 1 ? "" : "s");
    } else if (r.unfinished_bytes) {
        printf("%s: cut an unfinished last record of %" PRIu64 " bytes; %zu document%s\n", dir,
               r.unfinished_bytes, r.documents, r.documents == 1 ? "" : "s");
    } else {
        printf("%s: nothing to repair; %zu document%s\n", dir, r.documents,
               r.documents == 1 ? "" : "s");
    }
    return 0;
}

static int run_compact(const char *dir)
{
    fh_docstore *s = NULL;
    int rc = fh_docstore_open(dir, 0, &s);
    if (rc != 0) {
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
        return rc == FH_E_NOTFOUND || rc == FH_E_PARSE ? 2 : 1;
    }
    rc = fh_docstore_compact(s);
    if (rc == 0)
        rc = fh_docstore_sync(s);
    if (rc != 0)
        fprintf(stderr, "flowhost: %s\n", fh_last_error());
    else
        printf("%s: compacted; %zu document%s\n", dir, fh_docstore_len(s),
               fh_docstore_len(s) == 1 ? "" : "s");
    fh_docstore_close(&s);
    return rc ? 1 : 0;
}

int fh_cmd_docstore(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 3 || argv[2][0] == '-' || !argv[2][0]) {
        fprintf(stderr, "flowhost: usage: flowhost docstore check|repair|compact DIR "
                        "(flowhost docstore --help tells more)\n");
        return 2;
    }
    if (strcmp(argv[1], "check") == 0)
        return run_check(argv[2]);
    if (strcmp(argv[1], "repair") == 0)
        return run_repair(argv[2]);
    if (strcmp(argv[1], "compact") == 0)
        return run_compact(argv[2]);
    fprintf(stderr, "flowhost: unknown docstore command '%s' (check, repair, compact)\n",
            argv[1]);
    return 2;
}
