/* The status page a flow's HTTP gateway serves at GET /: one self-contained HTML page
 * (inline CSS and JavaScript, nothing fetched but the flow's own /metrics) that draws the
 * flow's graph and shows, per executor, replicas ready, requests queued, handler latency
 * percentiles, restarts and errors, and the flow's requests in flight, rate and latency,
 * refreshed every second from GET /metrics (docs/observability.md, "The status page").
 *
 * The page depends only on the flow as declared, so it is made from the flow's config
 * alone; every live number is read by the page itself. */
#ifndef FH_HOST_STATUS_PAGE_H
#define FH_HOST_STATUS_PAGE_H

#include <stddef.h>

#include "flow_config.h"

/* Writes the status page of the flow CFG (loaded and validated: its needs make no
 * cycle). Stores a new NUL-terminated page in *OUT, which the caller frees with free(),
 * and its length in bytes in *LEN. Nothing of CFG is kept. Returns 0, or FH_E_NOMEM
 * (out of memory) or FH_E_PARSE (the needs make a cycle), with a one-line message in
 * fh_last_error(); *OUT is then NULL. */
int fh_status_page_html(const fh_flow_config *cfg, char **out, size_t *len);

#endif
