/* A picture of a flow's graph: see flow_plot.h. */
#include "flow_plot.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "flow_graph.h"

/* A node's label as lines, built in a bounded buffer: the lines are joined by the
 * format's line break when written. */
#define MAX_LINES 6

typedef struct label {
    char text[MAX_LINES][1024];
    size_t n;
} label;

static char *label_line(label *l)
{
    char *line = l->text[l->n++];
    line[0] = '\0';
    return line;
}

/* The lines of executor X's label: its name, then what is not default. */
static void executor_label(const fh_flow_executor *x, label *l)
{
    l->n = 0;
    snprintf(label_line(l), sizeof l->text[0], "%s", x->name);
    if (x->replicas > 1)
        snprintf(label_line(l), sizeof l->text[0], "x%d replicas", x->replicas);
    if (x->shards > 1) {
        char *line = label_line(l);
        size_t size = sizeof l->text[0];
        size_t used = (size_t)snprintf(line, size, "%d shards, polling ", x->shards);
        if (x->n_pollings == 0) {
            snprintf(line + used, size - used, "%s", fh_polling_name(x->polling));
        } else {
            for (size_t k = 0; k < x->n_pollings && used < size; k++)
                used += (size_t)snprintf(line + used, size - used, "%s: %s, ",
                                         x->pollings[k].endpoint,
                                         fh_polling_name(x->pollings[k].polling));
            if (used < size)
                snprintf(line + used, size - used, "*: %s", fh_polling_name(x->polling));
        }
    }
    if (x->when_text)
        snprintf(label_line(l), sizeof l->text[0], "when %s", x->when_text);
    if (x->floating)
        snprintf(label_line(l), sizeof l->text[0], "floating");
    if (x->n_hosts > 0) { /* served elsewhere: where */
        char *line = label_line(l);
        size_t size = sizeof l->text[0], used = 0;
        for (size_t k = 0; k < x->n_hosts && used < size; k++)
            used += (size_t)snprintf(line + used, size - used, "%s%s", k ? ", " : "at ",
                                     x->hosts[k]);
    }
}

/* Writes TEXT for a Mermaid label in double quotes: quotes and the characters Mermaid
 * reads as markup become its entity codes. */
static void mermaid_text(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        switch (*p) {
        case '"': fputs("#quot;", out); break;
        case '#': fputs("#35;", out); break;
        case '<': fputs("#lt;", out); break;
        case '>': fputs("#gt;", out); break;
        default: fputc(*p < 0x20 ? ' ' : *p, out);
        }
    }
}

/* Writes TEXT for a DOT string in double quotes. */
static void dot_text(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p < 0x20 ? ' ' : *p, out);
    }
}

static void write_label(FILE *out, fh_plot_format format, const label *l)
{
    for (size_t k = 0; k < l->n; k++) {
        if (k)
            fputs(format == FH_PLOT_MERMAID ? "<br/>" : "\\n", out);
        if (format == FH_PLOT_MERMAID)
            mermaid_text(out, l->text[k]);
        else
            dot_text(out, l->text[k]);
    }
}

/* Node ids are x0, x1, ... by declaration: names may hold '.' and '-', which neither
 * format takes in an id. */
static void write_node(FILE *out, fh_plot_format format, size_t i, const fh_flow_executor *x,
                       label *l)
{
    executor_label(x, l);
    if (format == FH_PLOT_MERMAID) {
        fprintf(out, "    x%zu[\"", i);
        write_label(out, format, l);
        fputs("\"]\n", out);
        if (x->floating)
            fprintf(out, "    class x%zu floating\n", i);
    } else {
        fprintf(out, "  x%zu [label=\"", i);
        write_label(out, format, l);
        fprintf(out, "\"%s];\n", x->floating ? ", style=dashed" : "");
    }
}

static void write_edge(FILE *out, fh_plot_format format, const char *from, size_t from_i,
                       const char *to, size_t to_i, bool dashed)
{
    char a[32], b[32];
    if (from)
        snprintf(a, sizeof a, "%s", from);
    else
        snprintf(a, sizeof a, "x%zu", from_i);
    if (to)
        snprintf(b, sizeof b, "%s", to);
    else
        snprintf(b, sizeof b, "x%zu", to_i);
    if (format == FH_PLOT_MERMAID)
        fprintf(out, "    %s %s %s\n", a, dashed ? "-.->" : "-->", b);
    else
        fprintf(out, "  %s -> %s%s;\n", a, b, dashed ? " [style=dashed]" : "");
}

int fh_flow_plot(const fh_flow_config *cfg, fh_plot_format format, FILE *out)
{
    size_t n = cfg->n_executors;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    size_t *sinks = malloc((n ? n : 1) * sizeof *sinks);
    label *l = malloc(sizeof *l); /* 6 KiB: not on the stack */
    if (!order || !sinks || !l) {
        free(order);
        free(sinks);
        free(l);
        return fh_set_error(FH_E_NOMEM, "out of memory");
    }
    int rc = fh_flow_graph_order(cfg->executors, n, order);
    size_t n_sinks = fh_flow_graph_sinks(cfg->executors, n, sinks);
    if (rc < 0) {
        free(order);
        free(sinks);
        free(l);
        return rc == FH_E_NOMEM ? fh_set_error(rc, "out of memory")
                                : fh_set_error(rc, "the flow's needs make a cycle");
    }
    if (format == FH_PLOT_MERMAID) {
        fputs("flowchart LR\n", out);
        fputs("    classDef floating stroke-dasharray: 5 5\n", out);
        fputs("    gw_in([\"gateway\"])\n", out);
    } else {
        fputs("digraph flow {\n  rankdir=LR;\n  node [shape=box];\n", out);
        fputs("  gw_in [label=\"gateway\", shape=ellipse];\n", out);
    }
    for (size_t k = 0; k < n; k++)
        write_node(out, format, order[k], &cfg->executors[order[k]], l);
    if (format == FH_PLOT_MERMAID)
        fputs("    gw_out([\"gateway\"])\n", out);
    else
        fputs("  gw_out [label=\"gateway\", shape=ellipse];\n", out);
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        const fh_flow_executor *x = &cfg->executors[i];
        if (x->n_needs == 0)
            write_edge(out, format, "gw_in", 0, NULL, i, x->floating);
        for (size_t m = 0; m < x->n_needs; m++)
            write_edge(out, format, NULL, x->needs[m], NULL, i, x->floating);
    }
    for (size_t k = 0; k < n_sinks; k++)
        write_edge(out, format, NULL, sinks[k], "gw_out", 0, false);
    /* A flow of floating executors only (or none): the response leaves at once. */
    if (n_sinks == 0)
        write_edge(out, format, "gw_in", 0, "gw_out", 0, false);
    if (format == FH_PLOT_DOT)
        fputs("}\n", out);
    free(order);
    free(sinks);
    free(l);
    if (fflush(out) != 0 || ferror(out))
        return fh_set_error(FH_E_IO, "writing the plot failed");
    return 0;
}
