/* burn: an executor that costs CPU, for the benchmark's replicas and batching rows. Each
 * handler call burns call_us + doc_us × (documents in the call) microseconds of this
 * thread's CPU time (a busy loop on CLOCK_THREAD_CPUTIME_ID, not a sleep: it takes a CPU
 * as a model would). The replica numbered slow_replica (none by default) takes
 * slow_factor times as long: it burns that much more CPU, or, with slow_sleep: 1, burns
 * the same CPU and then sleeps the difference (slow as a replica on a loaded or remote
 * machine is, without taking a CPU from the others here).
 *
 * With sleep_us, every call then sleeps that long too (an executor that waits).
 *
 *   uses_with: {call_us: 1000, doc_us: 0, slow_replica: -1, slow_factor: 10, slow_sleep: 0,
 *               sleep_us: 0}
 */
#include <flowhost/executor.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>

typedef struct burn {
    int64_t call_ns, doc_ns; /* CPU time per call and per document */
    int64_t sleep_factor;    /* > 1: then sleep (factor - 1) times the CPU time burnt */
    int64_t sleep_ns;        /* then sleep this long per call (a call that waits: I/O, a
                                remote model) */
} burn;

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int burn_init(fh_ctx *ctx, const fh_value *with, const fh_metas *metas, void **state)
{
    burn *b = malloc(sizeof *b);
    if (b == NULL)
        return fh_ctx_fail(ctx, "out of memory");
    b->call_ns = fh_map_get_int(with, "call_us", 1000) * 1000;
    b->doc_ns = fh_map_get_int(with, "doc_us", 0) * 1000;
    b->sleep_factor = 1;
    b->sleep_ns = fh_map_get_int(with, "sleep_us", 0) * 1000;
    int64_t slow = fh_map_get_int(with, "slow_replica", -1);
    int64_t factor = fh_map_get_int(with, "slow_factor", 10);
    /* metas->replica is ABI 2.1: read it only when the worker's struct has it */
    if (slow >= 0 && metas->struct_size >= offsetof(fh_metas, replica) + sizeof metas->replica &&
        (int64_t)metas->replica == slow) {
        if (fh_map_get_int(with, "slow_sleep", 0)) {
            b->sleep_factor = factor;
        } else {
            b->call_ns *= factor;
            b->doc_ns *= factor;
        }
    }
    *state = b;
    return 0;
}

static void burn_fini(void *state)
{
    free(state);
}

static int burn_call(fh_ctx *ctx, fh_docs *docs, const fh_value *params)
{
    (void)params;
    const burn *b = fh_ctx_state(ctx);
    int64_t cost = b->call_ns + b->doc_ns * (int64_t)fh_docs_len(docs);
    int64_t until = cpu_ns() + cost;
    while (cpu_ns() < until)
        ;
    if (b->sleep_factor > 1 || b->sleep_ns > 0) {
        int64_t ns = cost * (b->sleep_factor - 1) + b->sleep_ns;
        struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return 0;
}

FH_EXECUTOR(Burn, burn_init, burn_fini, FH_REQUESTS(burn_call));
FH_PLUGIN(Burn);
