/* The graph of a flow's executors (their `needs`), as questions the loader, the gateway
 * and `flowhost plot` all ask the same way: in which order can they run, where is a
 * cycle, which executors does the gateway's end wait for, which polling does an endpoint
 * get.
 *
 * Every function reads an array of N executors (fh_flow_executor, flow_config.h) whose
 * `needs` are indexes into that array; none of them allocates on the caller's behalf
 * except where said, and none keeps a pointer after it returns.
 */
#ifndef FH_HOST_FLOW_GRAPH_H
#define FH_HOST_FLOW_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "flow_config.h"

/* Puts the N executors of XS in an order where each comes after every executor it
 * needs, into ORDER (N entries, the caller's); among executors ready at the same time,
 * the one declared first comes first. Returns 0, FH_E_NOMEM, or FH_E_PARSE when the
 * needs make a cycle (ORDER then holds no useful order; fh_flow_graph_cycle names the
 * cycle). Sets no message on FH_E_PARSE: the caller knows where the YAML is. */
int fh_flow_graph_order(const fh_flow_executor *xs, size_t n, size_t *order);

/* Finds a cycle among the needs of the N executors of XS. Returns 0 and stores in CYCLE
 * (N entries, the caller's) the executors of one cycle in the order they would run (each
 * needs the one before it, the first needs the last), starting with the one declared
 * first, and their number in *N_CYCLE (at least 1); returns 1 when there is no cycle
 * (*N_CYCLE is 0), FH_E_NOMEM when out of memory. */
int fh_flow_graph_cycle(const fh_flow_executor *xs, size_t n, size_t *cycle,
                        size_t *n_cycle);

/* True when executor I of the N executors of XS is a sink: not floating, and no
 * executor needs it but floating ones. The gateway's end waits for every sink; a
 * request is complete when each has answered (or was skipped). */
bool fh_flow_graph_is_sink(const fh_flow_executor *xs, size_t n, size_t i);

/* Stores the sinks (fh_flow_graph_is_sink) of the N executors of XS in declaration
 * order into SINKS (N entries, the caller's) and returns how many there are. A flow
 * with at least one executor that is not floating has at least one sink. */
size_t fh_flow_graph_sinks(const fh_flow_executor *xs, size_t n, size_t *sinks);

/* The polling of executor X for ENDPOINT: its entry for ENDPOINT when `polling` was a
 * map that names it, else X->polling (the map's '*', or the single value). */
fh_polling fh_flow_graph_polling(const fh_flow_executor *x, const char *endpoint);

/* "ANY" or "ALL" (a static string). */
const char *fh_polling_name(fh_polling p);

#endif
