/* A picture of a flow's graph, for `flowhost plot`: Mermaid (a `flowchart LR` that
 * GitHub and most Markdown viewers draw) or Graphviz DOT.
 *
 * The picture has a gateway where requests start and a gateway where responses leave;
 * one node per executor, labelled with its name and what is not default (replicas,
 * shards with their polling, the `when` condition, floating); an edge from each need to
 * the executor that needs it (from the start gateway for an executor that needs none);
 * an edge from every sink (flow_graph.h) to the end gateway. A floating executor is drawn
 * dashed, with dashed edges into it, and leads nowhere: nobody waits for it.
 */
#ifndef FH_HOST_FLOW_PLOT_H
#define FH_HOST_FLOW_PLOT_H

#include <stdio.h>

#include "flow_config.h"

typedef enum fh_plot_format {
    FH_PLOT_MERMAID = 0,
    FH_PLOT_DOT
} fh_plot_format;

/* Writes the picture of CFG (a loaded, valid flow: no cycle) in FORMAT to OUT, which the
 * caller owns and closes. Nodes and edges come in the order the executors run (their
 * topological order), so that the text reads like the flow. Returns 0, FH_E_NOMEM, or
 * FH_E_IO when OUT reports a write error (message in fh_last_error()). */
int fh_flow_plot(const fh_flow_config *cfg, fh_plot_format format, FILE *out);

#endif
