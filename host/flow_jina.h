/* Jina 2's flow and executor keys that flowhost does not take as they are.
 *
 * A flow written for Jina 2 loads unchanged wherever its keys mean something flowhost
 * does. The keys that do not are listed here, each with what flowhost does with it and
 * why, so that the loader never answers a Jina key with a generic "unknown key":
 * a key that only tunes Python's runtime (logging, thread or process, py_modules) is
 * ignored with a warning; a key flowhost will honour in a coming release (conditions,
 * remote executors) is refused as "not supported yet"; a key
 * flowhost will not honour (containers, Jina's ports) is refused with what to do instead.
 * Keys flowhost renames (port_expose, override_with, ...) are read by the loader itself.
 */
#ifndef FH_HOST_FLOW_JINA_H
#define FH_HOST_FLOW_JINA_H

/* Where a key is written. */
typedef enum fh_jina_where {
    FH_JINA_FLOW_WITH = 0, /* the flow's `with:` */
    FH_JINA_EXECUTOR,      /* an entry of `executors:` */
    FH_JINA_EXEC_YAML,     /* the top level of an executor YAML (`!Type` / `jtype:`) */
    FH_JINA_METAS          /* `metas:` of an executor YAML, and `uses_metas:` */
} fh_jina_where;

typedef enum fh_jina_action {
    FH_JINA_IGNORE = 0, /* loads, with a warning that names the key */
    FH_JINA_LATER,      /* an error: "'KEY' ... is not supported yet: WHY" */
    FH_JINA_LATER_UNLESS_FALSE, /* the same, but `KEY: false` asks for nothing flowhost
                                   lacks: ignored with a warning */
    FH_JINA_REFUSE      /* an error: "'KEY' ... is not supported: WHY" */
} fh_jina_action;

typedef struct fh_jina_key {
    const char *key;       /* the key as Jina 2 spells it */
    fh_jina_action action; /* what the loader does with it */
    const char *why;       /* the rest of the one-line message: why, and what to do */
} fh_jina_key;

/* The entry for KEY written at WHERE (a static entry, never freed), or NULL when KEY is
 * not one of Jina's keys that flowhost treats apart. */
const fh_jina_key *fh_jina_key_find(fh_jina_where where, const char *key);

#endif
