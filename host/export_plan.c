/* From a loaded flow to what `flowhost export` deploys (export_plan.h). */
#define _GNU_SOURCE /* asprintf */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>
#include <flowhost/json.h>

#include "export_keys.h"
#include "export_plan.h"
#include "export_yaml.h"

/* A StatefulSet's name must leave room for its pods' revision label (name, '-', a
 * 10-character hash: 63 in all), so 52 characters; a pod's name adds -ORDINAL. */
#define MAX_WORKLOAD 52

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

/* Appends string S to LIST; returns 0 or FH_E_NOMEM (the list's error sticks in *RC). */
static void add(fh_value *list, const char *s, int *rc)
{
    fh_value *v;
    if (*rc == 0 && (!(v = fh_value_new_string(s)) || fh_list_append(list, v) != 0))
        *rc = nomem();
}

static void set(fh_value *map, const char *key, fh_value *v, int *rc)
{
    if (*rc == 0 && (v == NULL || fh_map_set(map, key, v) != 0))
        *rc = nomem();
    else if (*rc != 0)
        fh_value_destroy(&v);
}

/* The executor's name as a DNS label into OUT (MAX_WORKLOAD + 1 bytes), or FH_E_INVAL. */
static int dns_label(const fh_flow_executor *x, int shards, int shard, char *out)
{
    char base[256];
    size_t n = 0;
    for (const char *p = x->name; *p && n + 1 < sizeof base; p++)
        base[n++] = *p == '_' || *p == '.' ? '-' : (char)tolower((unsigned char)*p);
    base[n] = '\0';
    char label[300];
    if (shards > 1)
        snprintf(label, sizeof label, "%s-shard-%d", base, shard);
    else
        snprintf(label, sizeof label, "%s", base);
    size_t len = strlen(label);
    /* The loader allows only A-Z a-z 0-9 _ . - in a name, so the label holds a-z 0-9 -
       (RFC 1123: consecutive hyphens are fine); a Service's name must also start with a
       letter (RFC 1035). */
    if (!isalpha((unsigned char)label[0]) || label[len - 1] == '-')
        return fh_set_error(FH_E_INVAL,
                            "executor '%s' (line %d): its name gives the DNS name '%s', which "
                            "must start with a letter and end with a letter or digit; rename "
                            "it", x->name, x->line, label);
    if (len > MAX_WORKLOAD)
        return fh_set_error(FH_E_INVAL,
                            "executor '%s' (line %d): its DNS name '%s' is longer than %d "
                            "characters (a StatefulSet's limit); give it a shorter name",
                            x->name, x->line, label, MAX_WORKLOAD);
    memcpy(out, label, len + 1);
    return 0;
}

const char *fh_export_replica_host(const fh_export_worker *w, int r, char *buf, size_t size)
{
    snprintf(buf, size, "%s-%d.%s", w->name, r, w->name);
    return buf;
}

/* The uses of X as the image knows it: the type, else PLUGIN_DIR/BASENAME.so, else NULL
 * (the pass-through). */
static char *image_uses(const fh_flow_executor *x, const char *plugin_dir)
{
    if (x->type != NULL)
        return strdup(x->type);
    if (x->plugin == NULL)
        return NULL;
    const char *base = strrchr(x->plugin, '/');
    base = base ? base + 1 : x->plugin;
    char *s;
    return asprintf(&s, "%s/%s", plugin_dir, base) < 0 ? NULL : s;
}

/* Refuses two plugin files of one name from different folders: the image has one
 * plugin folder, where both would be the same file. */
static int check_plugin_names(const fh_flow_config *cfg)
{
    for (size_t i = 0; i < cfg->n_executors; i++)
        for (size_t j = 0; j < i; j++) {
            const char *a = cfg->executors[i].plugin, *b = cfg->executors[j].plugin;
            if (a == NULL || b == NULL || strcmp(a, b) == 0)
                continue;
            const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
            if (strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b) == 0)
                return fh_set_error(FH_E_INVAL,
                                    "executors '%s' and '%s' use two plugins named '%s' (%s, "
                                    "%s): the image holds one plugin folder; rename one file",
                                    cfg->executors[j].name, cfg->executors[i].name,
                                    ba ? ba + 1 : a, b, a);
        }
    return 0;
}

/* Appends S to the worker command ARGS with every '$' doubled: `flowhost worker` reads
 * --uses, --name and the JSON options with the flow loader, which expands ${VAR} and
 * turns $$ into $ — the values are the flow's, already expanded once. */
static void add_value(fh_value *args, const char *s, int *rc)
{
    char *t = *rc ? NULL : fh_export_double_dollars_text(s);
    if (*rc == 0 && t == NULL)
        *rc = nomem();
    add(args, t ? t : "", rc);
    free(t);
}

/* Adds "--OPT JSON" of V to ARGS. */
static void add_json(fh_value *args, const char *opt, const fh_value *v, int *rc)
{
    char *json = fh_value_to_json(v);
    if (json == NULL && *rc == 0)
        *rc = nomem();
    add(args, opt, rc);
    add_value(args, json ? json : "", rc);
    free(json);
}

/* The worker command of shard SHARD of X. */
static int worker_args(const fh_flow_config *cfg, const fh_flow_executor *x, int shard,
                       const fh_export_options *o, bool keys, fh_value **out)
{
    int rc = 0;
    fh_value *a = fh_value_new_list();
    char listen[64], num[32];
    char *uses = image_uses(x, o->plugin_dir);
    if (a == NULL || ((x->type || x->plugin) && uses == NULL)) {
        free(uses);
        fh_value_destroy(&a);
        return nomem();
    }
    snprintf(listen, sizeof listen, "tcp://0.0.0.0:%d", o->port);
    add(a, "worker", &rc);
    add(a, "--listen", &rc);
    add(a, listen, &rc);
    add(a, "--uses", &rc);
    add_value(a, uses ? uses : "", &rc); /* nothing: the pass-through, as in a flow */
    free(uses);
    add(a, "--name", &rc);
    add_value(a, x->name, &rc);
    if (fh_value_len(x->uses_with) > 0)
        add_json(a, "--uses-with", x->uses_with, &rc);
    if (x->description && *x->description) {
        fh_value *m = fh_value_new_map();
        if (m == NULL || fh_map_set_string(m, "description", x->description) != 0)
            rc = rc ? rc : nomem();
        else
            add_json(a, "--uses-metas", m, &rc);
        fh_value_destroy(&m);
    }
    if (x->has_requests) {
        fh_value *m = fh_value_new_map();
        if (m == NULL)
            rc = rc ? rc : nomem();
        for (size_t i = 0; m && rc == 0 && i < x->n_requests; i++)
            if (fh_map_set_string(m, x->requests[i].endpoint, x->requests[i].handler) != 0)
                rc = nomem();
        if (m)
            add_json(a, "--uses-requests", m, &rc);
        fh_value_destroy(&m);
    }
    if (x->workspace || cfg->workspace) {
        add(a, "--workspace", &rc);
        add(a, FH_EXPORT_WORKSPACE, &rc);
    }
    if (keys) {
        add(a, "--key", &rc);
        add(a, FH_EXPORT_KEYS "/worker_secret", &rc);
        add(a, "--allow", &rc); /* (its own key is let in too: its probe uses it) */
        add(a, FH_EXPORT_KEYS "/gateway", &rc);
    }
    if (cfg->max_message_size != FH_FLOW_DEFAULT_MAX_MESSAGE) { /* the worker's own bound */
        add(a, "--max-message-size", &rc);
        snprintf(num, sizeof num, "%d", cfg->max_message_size);
        add(a, num, &rc);
    }
    if (x->shards > 1) {
        add(a, "--shard", &rc);
        snprintf(num, sizeof num, "%d", shard);
        add(a, num, &rc);
        add(a, "--shards", &rc);
        snprintf(num, sizeof num, "%d", x->shards);
        add(a, num, &rc);
    }
    if (rc < 0)
        fh_value_destroy(&a);
    *out = a;
    return rc;
}

/* `flowhost ping` ARGS for PORT, as the client KEY (a secret certificate in the pod, or
 * NULL) of the server whose public certificate is SERVER. */
static fh_value *ping_args(int port, const char *key, const char *server)
{
    int rc = 0;
    char addr[64];
    fh_value *a = fh_value_new_list();
    if (a == NULL)
        return NULL;
    add(a, "ping", &rc);
    if (key) {
        add(a, "--key", &rc);
        add(a, key, &rc);
        add(a, "--server-key", &rc);
        add(a, server, &rc);
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    add(a, addr, &rc);
    if (rc < 0)
        fh_value_destroy(&a);
    return a;
}

/* Stores the certificates SECRET and PUBLIC_ (taken) as files NAME_secret and NAME of
 * the Secret map FILES. */
static void put_pair(fh_value *files, const char *name, char *secret, char *public_, int *rc)
{
    char key[256];
    snprintf(key, sizeof key, "%s_secret", name);
    set(files, key, secret ? fh_value_new_string(secret) : NULL, rc);
    set(files, name, public_ ? fh_value_new_string(public_) : NULL, rc);
    free(secret);
    free(public_);
}

/* with: of the gateway's flow: CFG's settings, its host open to the pod network. */
static int flow_with(const fh_flow_config *cfg, fh_export_plan *p, bool keys, fh_value *gwf,
                     fh_value **out)
{
    int rc = 0;
    fh_value *w = fh_value_new_map();
    if (w == NULL)
        return nomem();
    set(w, "host", fh_value_new_string("0.0.0.0"), &rc);
    set(w, "port", fh_value_new_int(p->port_zmq), &rc);
    if (p->http) {
        fh_value *pr = fh_value_new_list();
        if (pr) {
            add(pr, "zmq", &rc);
            add(pr, "http", &rc);
        }
        set(w, "protocol", pr, &rc);
        set(w, "port_http", fh_value_new_int(p->port_http), &rc);
    }
    set(w, "prefetch", fh_value_new_int(cfg->prefetch), &rc);
    set(w, "timeout_ready", fh_value_new_int(cfg->timeout_ready_ms), &rc);
    set(w, "timeout_drain", fh_value_new_int(cfg->timeout_drain_ms), &rc);
    set(w, "max_message_size", fh_value_new_int(cfg->max_message_size), &rc);
    set(w, "max_inflight", fh_value_new_int(cfg->max_inflight), &rc);
    set(w, "max_connections", fh_value_new_int(cfg->max_connections), &rc);
    set(w, "monitoring", fh_value_new_bool(cfg->monitoring), &rc);
    if (p->http) {
        set(w, "http_max_connections", fh_value_new_int(cfg->http_max_connections), &rc);
        set(w, "http_max_header_size", fh_value_new_int(cfg->http_max_header_size), &rc);
        set(w, "http_read_timeout", fh_value_new_int(cfg->http_read_timeout_ms), &rc);
        set(w, "http_keep_alive", fh_value_new_bool(cfg->http_keep_alive), &rc);
        set(w, "http_timeout", fh_value_new_int(cfg->http_timeout_ms), &rc);
    }
    if (rc == 0 && p->tls) {
        char *crt = NULL, *key = NULL;
        if ((rc = fh_export_read_file(cfg->ssl_certfile, &crt)) == 0 &&
            (rc = fh_export_read_file(cfg->ssl_keyfile, &key)) == 0) {
            set(gwf, "tls.crt", fh_value_new_string(crt), &rc);
            set(gwf, "tls.key", fh_value_new_string(key), &rc);
            set(w, "ssl_certfile", fh_value_new_string(FH_EXPORT_KEYS "/tls.crt"), &rc);
            set(w, "ssl_keyfile", fh_value_new_string(FH_EXPORT_KEYS "/tls.key"), &rc);
        }
        free(crt);
        free(key);
    }
    if (rc == 0 && cfg->curve) {
        char *sec = NULL, *pub = NULL;
        if ((rc = fh_export_key_texts(&cfg->server_key, &sec, &pub)) == 0)
            put_pair(gwf, "server", sec, pub, &rc);
        set(w, "server_key", fh_value_new_string(FH_EXPORT_KEYS "/server_secret"), &rc);
        fh_value *ck = fh_value_new_list();
        if (ck) {
            for (size_t i = 0; i < cfg->n_client_keys; i++)
                add(ck, cfg->client_keys[i], &rc);
            /* the readiness probe in the gateway's pod connects with the server's pair */
            add(ck, FH_EXPORT_KEYS "/server", &rc);
        }
        set(w, "client_keys", ck, &rc);
    }
    if (keys || cfg->has_gateway_key)
        set(w, "gateway_key", fh_value_new_string(FH_EXPORT_KEYS "/gateway_secret"), &rc);
    if (rc < 0)
        fh_value_destroy(&w);
    *out = w;
    return rc;
}

/* The polling of X as the flow's map form {'/endpoint': ANY|ALL, '*': ...}. */
static fh_value *polling_map(const fh_flow_executor *x)
{
    int rc = 0;
    fh_value *m = fh_value_new_map();
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < x->n_pollings; i++)
        set(m, x->pollings[i].endpoint,
            fh_value_new_string(x->pollings[i].polling == FH_POLLING_ALL ? "ALL" : "ANY"), &rc);
    set(m, "*", fh_value_new_string(x->polling == FH_POLLING_ALL ? "ALL" : "ANY"), &rc);
    if (rc < 0)
        fh_value_destroy(&m);
    return m;
}

/* The entry of executor X (index I) in the gateway's flow: where its workers are, and
 * what the gateway does with it. FIRST is X's first workload in P. */
static int flow_executor(const fh_flow_config *cfg, size_t i, const fh_export_plan *p,
                         size_t first, int port, bool keys, fh_value **out)
{
    const fh_flow_executor *x = &cfg->executors[i];
    int rc = 0;
    fh_value *e = fh_value_new_map(), *hosts = fh_value_new_list();
    if (e == NULL || hosts == NULL) {
        fh_value_destroy(&e);
        fh_value_destroy(&hosts);
        return nomem();
    }
    set(e, "name", fh_value_new_string(x->name), &rc);
    for (size_t k = 0; k < x->n_hosts; k++) /* served elsewhere: where it points */
        add(hosts, x->hosts[k], &rc);
    /* shard-major: every replica of shard 0, then of shard 1, ... */
    for (int s = 0; x->n_hosts == 0 && s < x->shards; s++) {
        const fh_export_worker *w = &p->workers[first + (size_t)s];
        for (int r = 0; r < w->replicas; r++) {
            char host[160], hp[200];
            fh_export_replica_host(w, r, host, sizeof host);
            snprintf(hp, sizeof hp, "%s:%d", host, port);
            add(hosts, hp, &rc);
        }
    }
    set(e, "host", hosts, &rc);
    if (x->shards > 1) {
        set(e, "shards", fh_value_new_int(x->shards), &rc);
        set(e, "polling", polling_map(x), &rc);
    }
    fh_value *needs = fh_value_new_list();
    if (needs && x->n_needs == 0)
        add(needs, "gateway", &rc);
    for (size_t k = 0; needs && k < x->n_needs; k++)
        add(needs, cfg->executors[x->needs[k]].name, &rc);
    set(e, "needs", needs, &rc);
    if (x->floating)
        set(e, "floating", fh_value_new_bool(true), &rc);
    if (x->when_text != NULL && rc == 0) {
        fh_value *when = NULL;
        if (fh_value_from_json(x->when_text, strlen(x->when_text), &when) != 0)
            rc = fh_set_error(FH_E_INVAL, "executor '%s': its when: cannot be written again "
                                          "(%s)", x->name, fh_last_error());
        else
            set(e, "when", when, &rc);
    }
    if (x->timeout_ms >= 0)
        set(e, "timeout", fh_value_new_int(x->timeout_ms), &rc);
    if (x->on_error == FH_ON_ERROR_IGNORE)
        set(e, "on_error", fh_value_new_string("ignore"), &rc);
    set(e, "credit", fh_value_new_int(x->credit), &rc);
    if (x->n_batching > 0) { /* the gateway tells its remote workers when it connects */
        fh_value *b = fh_value_new_map();
        for (size_t k = 0; b && k < x->n_batching; k++) {
            fh_value *r = fh_value_new_map();
            set(r, "preferred_batch_size", fh_value_new_int(x->batching[k].preferred_batch_size),
                &rc);
            set(r, "timeout", fh_value_new_int(x->batching[k].timeout_ms), &rc);
            set(b, x->batching[k].endpoint, r, &rc);
        }
        set(e, "uses_dynamic_batching", b, &rc);
    }
    if (x->n_hosts > 0 && x->has_worker_key) {
        set(e, "worker_key", fh_value_new_string(x->worker_key), &rc); /* a public key */
    } else if (x->n_hosts == 0 && keys) {
        char path[300];
        /* the executor's public certificate, named as in the gateway's Secret */
        snprintf(path, sizeof path, FH_EXPORT_KEYS "/worker-%s", x->name);
        set(e, "worker_key", fh_value_new_string(path), &rc);
    }
    if (rc < 0)
        fh_value_destroy(&e);
    *out = e;
    return rc;
}

/* The workloads of executor X (index I): one per shard, appended to P. */
static int add_workers(const fh_flow_config *cfg, size_t i, const fh_export_options *o,
                       fh_export_plan *p)
{
    const fh_flow_executor *x = &cfg->executors[i];
    if (x->n_hosts > 0)
        return 0; /* served elsewhere already: the flow keeps pointing there */
    int rc = 0;
    bool keys = o->keys_dir != NULL;
    for (int s = 0; rc == 0 && s < x->shards; s++) {
        char label[MAX_WORKLOAD + 1];
        if ((rc = dns_label(x, x->shards, s, label)) < 0)
            break;
        for (size_t k = 0; k < p->n_workers; k++)
            if (strcmp(p->workers[k].name, label) == 0)
                return fh_set_error(FH_E_INVAL,
                                    "executors '%s' and '%s' have the same DNS name '%s'; "
                                    "rename one", cfg->executors[p->workers[k].executor].name,
                                    x->name, label);
        if (strcmp(label, "gateway") == 0)
            return fh_set_error(FH_E_INVAL, "executor '%s' (line %d): its DNS name 'gateway' "
                                            "is the gateway's; rename it", x->name, x->line);
        fh_export_worker *w = &p->workers[p->n_workers];
        memset(w, 0, sizeof *w);
        w->executor = i;
        w->shard = s;
        w->shards = x->shards;
        w->replicas = x->replicas;
        if (!(w->name = strdup(label)) || !(w->env = fh_value_copy(x->env)))
            rc = nomem();
        if (rc == 0)
            rc = worker_args(cfg, x, s, o, keys, &w->args);
        if (rc == 0 && !(w->probe = ping_args(o->port, keys ? FH_EXPORT_KEYS "/worker_secret" : NULL,
                                              FH_EXPORT_KEYS "/worker")))
            rc = nomem();
        w->workspace = x->workspace || cfg->workspace;
        if (rc == 0 && keys) {
            /* one key pair per executor: the gateway's flow names one worker_key */
            char dns[MAX_WORKLOAD + 1];
            if ((rc = dns_label(x, 1, 0, dns)) == 0 && asprintf(&w->secret, "%s-keys", dns) < 0) {
                w->secret = NULL;
                rc = nomem();
            }
        }
        p->n_workers++; /* counted even half-made: destroy frees what it holds */
    }
    return rc;
}

/* The Secrets of --keys: the gateway's pair and each executor's. */
static int make_keys(const fh_flow_config *cfg, const fh_export_options *o, fh_export_plan *p,
                     fh_value *gwf)
{
    char *gsec = NULL, *gpub = NULL;
    /* the flow's own gateway_key, when it has one: its remote executors allow it */
    int rc = cfg->has_gateway_key ? fh_export_key_texts(&cfg->gateway_key, &gsec, &gpub)
                                  : fh_export_key_files(o->keys_dir, "gateway", &gsec, &gpub);
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < cfg->n_executors; i++) {
        const fh_flow_executor *x = &cfg->executors[i];
        if (x->n_hosts > 0)
            continue; /* served elsewhere, with its own keys */
        const char *secret = NULL;
        for (size_t k = 0; k < p->n_workers; k++)
            if (p->workers[k].executor == i)
                secret = p->workers[k].secret;
        char *sec = NULL, *pub = NULL, gw_name[300];
        if ((rc = fh_export_key_files(o->keys_dir, x->name, &sec, &pub)) < 0)
            break;
        fh_value *files = fh_value_new_map();
        snprintf(gw_name, sizeof gw_name, "worker-%s", x->name);
        set(gwf, gw_name, pub ? fh_value_new_string(pub) : NULL, &rc);
        if (files) {
            put_pair(files, "worker", sec, pub, &rc);
            set(files, "gateway", fh_value_new_string(gpub), &rc);
        } else {
            free(sec);
            free(pub);
        }
        set(p->secrets, secret, files, &rc);
    }
    if (rc == 0)
        put_pair(gwf, "gateway", gsec, gpub, &rc);
    else {
        free(gsec);
        free(gpub);
    }
    return rc;
}

int fh_export_plan_make(const fh_flow_config *cfg, const fh_export_options *o,
                        fh_export_plan **out)
{
    *out = NULL;
    fh_export_plan *p = calloc(1, sizeof *p);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_executors; i++)
        n += (size_t)cfg->executors[i].shards;
    if (p == NULL || !(p->workers = calloc(n ? n : 1, sizeof *p->workers)) ||
        !(p->secrets = fh_value_new_map())) {
        fh_export_plan_destroy(&p);
        return nomem();
    }
    /* a port the flow leaves to the system gets a fixed one (a Service needs it), never
       the one the flow gives the other protocol */
    p->http = cfg->http;
    p->port_zmq = cfg->port ? cfg->port : FH_EXPORT_GATEWAY_ZMQ;
    if (!cfg->port && cfg->http && p->port_zmq == cfg->port_http)
        p->port_zmq = FH_EXPORT_GATEWAY_HTTP;
    p->port_http = cfg->port_http ? cfg->port_http : FH_EXPORT_GATEWAY_HTTP;
    if (!cfg->port_http && p->port_http == p->port_zmq)
        p->port_http = FH_EXPORT_GATEWAY_ZMQ;
    p->tls = cfg->http && cfg->ssl_certfile != NULL;
    p->startup_s = cfg->timeout_ready_ms < 0 ? 0 : (cfg->timeout_ready_ms + 999) / 1000 + 30;
    p->grace_s = (cfg->timeout_drain_ms + 999) / 1000 + 10;
    bool keys = o->keys_dir != NULL;
    int rc = check_plugin_names(cfg);
    size_t *first = calloc(cfg->n_executors + 1, sizeof *first);
    if (rc == 0 && first == NULL)
        rc = nomem();
    for (size_t i = 0; rc == 0 && i < cfg->n_executors; i++) {
        first[i] = p->n_workers;
        rc = add_workers(cfg, i, o, p);
    }
    fh_value *gwf = rc == 0 ? fh_value_new_map() : NULL; /* the gateway's Secret */
    if (rc == 0 && gwf == NULL)
        rc = nomem();
    if (rc == 0 && keys) {
        rc = make_keys(cfg, o, p, gwf);
    } else if (rc == 0 && cfg->has_gateway_key) {
        char *sec = NULL, *pub = NULL;
        if ((rc = fh_export_key_texts(&cfg->gateway_key, &sec, &pub)) == 0)
            put_pair(gwf, "gateway", sec, pub, &rc);
    }
    fh_value *with = NULL, *execs = NULL;
    if (rc == 0)
        rc = flow_with(cfg, p, keys, gwf, &with);
    if (rc == 0 && !(p->gateway_probe = ping_args(p->port_zmq,
                                                  cfg->curve ? FH_EXPORT_KEYS "/server_secret" : NULL,
                                                  FH_EXPORT_KEYS "/server")))
        rc = nomem();
    if (rc == 0 && !(execs = fh_value_new_list()))
        rc = nomem();
    for (size_t i = 0; rc == 0 && i < cfg->n_executors; i++) {
        fh_value *e = NULL;
        if ((rc = flow_executor(cfg, i, p, first[i], o->port, keys, &e)) == 0 &&
            fh_list_append(execs, e) != 0)
            rc = nomem();
    }
    fh_value *flow = NULL;
    if (rc == 0 && !(flow = fh_value_new_map()))
        rc = nomem();
    if (rc == 0) {
        set(flow, "jtype", fh_value_new_string("Flow"), &rc);
        set(flow, "version", fh_value_new_string("1"), &rc);
        set(flow, "with", with, &rc);
        set(flow, "executors", execs, &rc);
        with = execs = NULL;
    }
    /* The gateway reads its flow with the flow loader, which expands ${VAR} and turns
       $$ into $ again: the values are the flow's, expanded once already (a when value
       "a$${X}b" is "a${X}b" now; a Z85 key may hold "$$"). */
    if (rc == 0 && !(p->flow = fh_export_double_dollars(flow)))
        rc = nomem();
    fh_value_destroy(&flow);
    if (rc == 0 && fh_value_len(gwf) > 0) {
        set(p->secrets, "gateway-keys", gwf, &rc);
        gwf = NULL;
    }
    fh_value_destroy(&with);
    fh_value_destroy(&execs);
    fh_value_destroy(&gwf);
    free(first);
    if (rc < 0) {
        fh_export_plan_destroy(&p);
        return rc;
    }
    *out = p;
    return 0;
}

void fh_export_plan_destroy(fh_export_plan **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    fh_export_plan *p = *pp;
    for (size_t i = 0; i < p->n_workers; i++) {
        fh_export_worker *w = &p->workers[i];
        free(w->name);
        free(w->secret);
        fh_value_destroy(&w->args);
        fh_value_destroy(&w->env);
        fh_value_destroy(&w->probe);
    }
    free(p->workers);
    fh_value_destroy(&p->flow);
    fh_value_destroy(&p->gateway_probe);
    fh_value_destroy(&p->secrets);
    free(p);
    *pp = NULL;
}
