/* flowhost — the executor SDK: what a plugin includes.
 *
 * A plugin is a shared object that declares one or more executor types and exports one
 * versioned descriptor, nothing else:
 *
 *     #include <flowhost/executor.h>
 *
 *     static int foo(fh_ctx *ctx, fh_docs *docs, const fh_value *params) {
 *         int64_t p = fh_map_get_int(params, "param", 1);
 *         ...
 *         return 0;                      // or: return fh_ctx_fail(ctx, "why");
 *     }
 *
 *     FH_EXECUTOR(MyExecutor, my_init, my_fini,
 *                 FH_REQUESTS(foo),                       // default handler
 *                 FH_REQUESTS(index_docs, "/index"),      // one endpoint
 *                 FH_REQUESTS(search, "/search", "/query"), // several
 *                 FH_HANDLER(rerank));                   // bound only by a flow
 *
 *     FH_PLUGIN(MyExecutor);             // every executor type of this .so
 *
 * Build it with -fvisibility=hidden and link libflowhost (pkg-config flowhost). The
 * worker loads it with dlopen(RTLD_NOW | RTLD_LOCAL), checks the descriptor's magic and
 * ABI version before it calls anything, and never unloads it: to reload, restart the
 * worker. A plugin has no constructors and no global registries.
 *
 * Lifecycle of an executor: init(ctx, uses_with, metas, &state) once, handlers one
 * request at a time (a worker never calls two handlers at once), fini(state) at the end.
 *
 * Requests: a request's endpoint selects the handler bound to it, else the default
 * handler, else the request passes the executor unchanged. A flow rebinds handlers by
 * name (uses_requests, an executor YAML's requests) as Jina does: each entry binds its
 * endpoint ("/default" or "default": the default handler) to the named handler and
 * releases the last endpoint the plugin bound that handler to; every other binding of
 * the plugin stays (docs/sdk.md, "Bindings").
 *
 * The header compiles warning-free as C99, C11 and C++11 or later with -pedantic -Wall
 * -Wextra.
 */
#ifndef FLOWHOST_EXECUTOR_H
#define FLOWHOST_EXECUTOR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/value.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FH_ABI_MAJOR 2 /* changes when the ABI breaks: the worker refuses other majors.
                        * 2: fh_binding holds its endpoints inline and a kind */
#define FH_ABI_MINOR 2 /* grows when fields are added at the end of a struct */
#define FH_PLUGIN_MAGIC 0x46485031u /* "FHP1" */

/* The context of a call into the plugin (init or a handler). Owned by the worker; valid
 * only during that call. */
typedef struct fh_ctx fh_ctx;

/* metas of an executor: all strings owned by the worker, valid until fini returns. */
typedef struct fh_metas {
    uint32_t struct_size;    /* sizeof(fh_metas) of the worker: fields only get added */
    const char *name;        /* metas.name: the executor's name in the flow */
    const char *description; /* metas.description, "" when not set */
    const char *workspace;   /* a directory this executor (replica) may write; it exists */
    /* ABI 2.1: read them only when struct_size covers them */
    uint32_t replica;        /* which replica this worker is: 0 .. replicas - 1 */
    uint32_t replicas;       /* how many replicas the executor has (`replicas`, 1 when not
                                set) */
    /* ABI 2.2 */
    uint32_t shard;          /* which shard this worker serves: 0 .. shards - 1 */
    uint32_t shards;         /* how many shards the executor has (`shards`, 1 when not set) */
} fh_metas;

/* Called once before any handler. USES_WITH is the executor's `with` map (never NULL,
 * borrowed for the duration of the call: copy what you keep). Store your state in
 * *STATE. Return 0, or an error (fh_ctx_fail) — the flow then fails to start and shows
 * the message. */
typedef int (*fh_init_fn)(fh_ctx *ctx, const fh_value *uses_with, const fh_metas *metas,
                          void **state);
/* Called once at the end with the state init stored. */
typedef void (*fh_fini_fn)(void *state);

/* A request handler. DOCS is never NULL (an empty array when the request has none): edit
 * the documents in place, append, remove or replace them; what DOCS holds when the
 * handler returns goes on. PARAMS is never NULL: the request's parameters, with the
 * entries of parameters[metas.name] (when it is a map) copied over the root. Borrowed for
 * the call. Return 0, or an error (fh_ctx_fail): the request then carries the error. */
typedef int (*fh_handler_fn)(fh_ctx *ctx, fh_docs *docs, const fh_value *params);

/* Limits of the declarations, checked when the plugin compiles: a binding names at most
 * FH_MAX_ENDPOINTS endpoints, an executor type has at most FH_MAX_BINDINGS bindings, a
 * plugin at most FH_MAX_TYPES executor types. */
#define FH_MAX_ENDPOINTS 8
#define FH_MAX_BINDINGS 64
#define FH_MAX_TYPES 8

/* What a binding binds its handler to (fh_binding.kind). */
#define FH_BIND_ENDPOINTS 1u /* the endpoints listed: FH_REQUESTS(fn, "/a", ...) */
#define FH_BIND_DEFAULT 2u   /* any endpoint nothing else binds: FH_REQUESTS(fn) */
#define FH_BIND_NONE 3u      /* nothing until a flow binds it by name: FH_HANDLER(fn) */

/* One binding of a handler, a plain aggregate so that C and C++ initialise it alike (no
 * compound literal). All pointers point at static storage of the plugin. */
typedef struct fh_binding {
    fh_handler_fn handler;    /* NULL ends a binding table */
    const char *handler_name; /* the function's name, for uses_requests */
    uint32_t kind;            /* FH_BIND_ENDPOINTS, FH_BIND_DEFAULT or FH_BIND_NONE */
    const char *endpoints[FH_MAX_ENDPOINTS]; /* FH_BIND_ENDPOINTS: 1 or more, NULL after
                                                the last; otherwise all NULL */
} fh_binding;

/* An executor type. */
typedef struct fh_executor_type {
    uint32_t struct_size;        /* sizeof(fh_executor_type) of the plugin */
    const char *name;            /* the type name that `uses`/`jtype` refers to */
    fh_init_fn init;             /* may be NULL */
    fh_fini_fn fini;             /* may be NULL */
    const fh_binding *bindings;  /* ends with an entry whose handler is NULL; at most
                                    FH_MAX_BINDINGS before it */
    void *reserved[4];           /* room to grow; zero */
} fh_executor_type;

/* The one symbol a plugin exports, named by FH_PLUGIN_SYMBOL. */
typedef struct fh_plugin_descriptor {
    uint32_t magic;       /* FH_PLUGIN_MAGIC */
    uint16_t abi_major;   /* FH_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;   /* FH_ABI_MINOR the plugin was built with */
    uint32_t struct_size; /* sizeof(fh_plugin_descriptor) of the plugin */
    const fh_executor_type *const *types; /* NULL-terminated, at most FH_MAX_TYPES */
    void *reserved[8];    /* room to grow; zero */
} fh_plugin_descriptor;

#define FH_PLUGIN_SYMBOL "fh_plugin_v1"

/* --- the context --------------------------------------------------------------------
 * Strings returned are owned by the worker and valid for the duration of the call. */

/* The request's endpoint ("/index"); NULL during init. */
const char *fh_ctx_endpoint(const fh_ctx *ctx);
/* The request's id; NULL during init. */
const char *fh_ctx_request_id(const fh_ctx *ctx);
/* The executor's name (metas.name). */
const char *fh_ctx_executor(const fh_ctx *ctx);
/* The executor's workspace directory (it exists). */
const char *fh_ctx_workspace(const fh_ctx *ctx);
/* The state init stored (NULL during init). */
void *fh_ctx_state(const fh_ctx *ctx);

typedef enum fh_log_level {
    FH_LOG_DEBUG = 0,
    FH_LOG_INFO,
    FH_LOG_WARNING,
    FH_LOG_ERROR
} fh_log_level;

/* Writes one log line, prefixed with the executor's name and the level, to the worker's
 * stderr. Lines below the worker's level (FLOWHOST_LOG_LEVEL) are dropped. */
void fh_ctx_log(fh_ctx *ctx, fh_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why the call fails and returns FH_E_HANDLER, to be returned by the handler or
 * init: `return fh_ctx_fail(ctx, "no index %d", i);`. */
int fh_ctx_fail(fh_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- declaring executors ------------------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define FH_EXPORT __attribute__((visibility("default")))
#else
#define FH_EXPORT
#endif

/* The macros below are plain C99 and C++11: every variadic macro takes (...) so that no
 * call leaves its variadic part empty, arguments are counted with FH__PICK instead of
 * __VA_OPT__, and tables are named static arrays, never compound literals. */

#ifdef __cplusplus
#define FH__EXTERN extern "C"
#else
#define FH__EXTERN extern
#endif

/* The 25th argument: with a list of 24 names after __VA_ARGS__, the name for the count
 * of arguments given (1 to 24). */
#define FH__PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                 _17, _18, _19, _20, _21, _22, _23, _24, name, ...)                    \
    name
/* FIRST when given one argument, MANY for 2 to 9 (a handler and 1 to FH_MAX_ENDPOINTS
 * endpoints: change both together), TOO for 10 to 24; 25 or more fail to compile too,
 * less clearly. */
#define FH__COUNT_9(first, many, too, ...)                                              \
    FH__PICK(__VA_ARGS__, too, too, too, too, too, too, too, too, too, too, too, too,   \
             too, too, too, many, many, many, many, many, many, many, many, first, unused)

/* FH_REQUESTS(handler)             the default handler: any endpoint nothing else binds
 * FH_REQUESTS(handler, "/a", ...)  a handler for 1 to FH_MAX_ENDPOINTS endpoints
 * More endpoints fail to compile, naming FH_REQUESTS_takes_at_most_8_endpoints. */
#define FH_REQUESTS(...)                                                                 \
    FH__COUNT_9(FH__REQUESTS_DEFAULT, FH__REQUESTS_ON, FH_REQUESTS_takes_at_most_8_endpoints, \
                __VA_ARGS__)(__VA_ARGS__)
/* Expands to its own name, an undeclared identifier: the compiler's error names the limit. */
#define FH_REQUESTS_takes_at_most_8_endpoints(...) FH_REQUESTS_takes_at_most_8_endpoints
#define FH__REQUESTS_DEFAULT(fn)                                                       \
    {                                                                                  \
        (fn), #fn, FH_BIND_DEFAULT, { NULL }                                           \
    }
#define FH__REQUESTS_ON(fn, ...)                                                       \
    {                                                                                  \
        (fn), #fn, FH_BIND_ENDPOINTS, { __VA_ARGS__ }                                  \
    }

/* FH_HANDLER(handler): a handler bound to no endpoint, offered to flows by its name
 * (uses_requests: {/index: handler}), as Jina's undecorated methods. */
#define FH_HANDLER(fn)                                                                 \
    {                                                                                  \
        (fn), #fn, FH_BIND_NONE, { NULL }                                              \
    }

#define FH__BINDING_END                                                                \
    {                                                                                  \
        NULL, NULL, 0, { NULL }                                                        \
    }

/* FH_EXECUTOR(Type, init, fini, binding, ...) defines executor type `Type`; each binding
 * is an FH_REQUESTS(...) or FH_HANDLER(...), up to FH_MAX_BINDINGS (more fail to compile,
 * naming fh_too_many_bindings_in_Type); there may be none: FH_EXECUTOR(Type, init, fini).
 * init and fini may be NULL. A plugin of several files lists in FH_PLUGIN types defined
 * in other files, declared there with FH_EXECUTOR_DECLARE(Type). (Built with
 * -fvisibility=hidden, these names stay inside the plugin.) */
#define FH_EXECUTOR(...) FH__EXECUTOR(__VA_ARGS__, FH__BINDING_END)
#define FH__EXECUTOR(type, init_fn, fini_fn, ...)                                      \
    static const fh_binding fh__bindings_##type[] = {__VA_ARGS__};                     \
    typedef char fh_too_many_bindings_in_##type                                        \
        [sizeof fh__bindings_##type / sizeof fh__bindings_##type[0] <= FH_MAX_BINDINGS + 1 \
             ? 1                                                                       \
             : -1];                                                                    \
    FH_EXECUTOR_DECLARE(type);                                                         \
    const fh_executor_type fh__executor_##type = {                                     \
        sizeof(fh_executor_type), #type, (init_fn), (fini_fn), fh__bindings_##type, {NULL}}

/* Declares executor type `Type` defined by FH_EXECUTOR in another file of the plugin. */
#define FH_EXECUTOR_DECLARE(type) FH__EXTERN const fh_executor_type fh__executor_##type

#define FH__ADDR_1(a) &fh__executor_##a
#define FH__ADDR_2(a, ...) &fh__executor_##a, FH__ADDR_1(__VA_ARGS__)
#define FH__ADDR_3(a, ...) &fh__executor_##a, FH__ADDR_2(__VA_ARGS__)
#define FH__ADDR_4(a, ...) &fh__executor_##a, FH__ADDR_3(__VA_ARGS__)
#define FH__ADDR_5(a, ...) &fh__executor_##a, FH__ADDR_4(__VA_ARGS__)
#define FH__ADDR_6(a, ...) &fh__executor_##a, FH__ADDR_5(__VA_ARGS__)
#define FH__ADDR_7(a, ...) &fh__executor_##a, FH__ADDR_6(__VA_ARGS__)
#define FH__ADDR_8(a, ...) &fh__executor_##a, FH__ADDR_7(__VA_ARGS__)
#define FH_PLUGIN_takes_at_most_8_types(...) FH_PLUGIN_takes_at_most_8_types
#define FH__ADDRS(...)                                                                 \
    FH__PICK(__VA_ARGS__, FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types, \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH_PLUGIN_takes_at_most_8_types, FH_PLUGIN_takes_at_most_8_types,         \
             FH__ADDR_8, FH__ADDR_7, FH__ADDR_6, FH__ADDR_5, FH__ADDR_4, FH__ADDR_3,   \
             FH__ADDR_2, FH__ADDR_1, unused)(__VA_ARGS__)

/* FH_PLUGIN(TypeA, TypeB, ...) exports the descriptor listing the executor types of this
 * .so (1 to FH_MAX_TYPES; more fail to compile, naming FH_PLUGIN_takes_at_most_8_types).
 * Use it once per plugin. */
#define FH_PLUGIN(...)                                                                 \
    static const fh_executor_type *const fh__plugin_types[] = {FH__ADDRS(__VA_ARGS__), NULL}; \
    FH__EXTERN FH_EXPORT const fh_plugin_descriptor fh_plugin_v1;                     \
    const fh_plugin_descriptor fh_plugin_v1 = {FH_PLUGIN_MAGIC, FH_ABI_MAJOR, FH_ABI_MINOR, \
                                               sizeof(fh_plugin_descriptor),           \
                                               fh__plugin_types, {NULL}}

#ifdef __cplusplus
}
#endif
#endif
