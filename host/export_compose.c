/* The Compose file of an export plan (export_kube.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "export_kube.h"
#include "export_yaml.h"

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

/* Builders that keep the first error in *RC (as in export_kube.c). */
static fh_value *map(int *rc)
{
    fh_value *m = *rc ? NULL : fh_value_new_map();
    if (*rc == 0 && m == NULL)
        *rc = nomem();
    return m;
}

static fh_value *list(int *rc)
{
    fh_value *l = *rc ? NULL : fh_value_new_list();
    if (*rc == 0 && l == NULL)
        *rc = nomem();
    return l;
}

static void put(fh_value *m, const char *key, fh_value *v, int *rc)
{
    if (*rc == 0 && (m == NULL || v == NULL || fh_map_set(m, key, v) != 0)) {
        *rc = nomem();
        return;
    }
    if (*rc != 0)
        fh_value_destroy(&v);
}

static void put_s(fh_value *m, const char *key, const char *s, int *rc)
{
    put(m, key, *rc ? NULL : fh_value_new_string(s), rc);
}

static void push(fh_value *l, fh_value *v, int *rc)
{
    if (*rc == 0 && (l == NULL || v == NULL || fh_list_append(l, v) != 0)) {
        *rc = nomem();
        return;
    }
    if (*rc != 0)
        fh_value_destroy(&v);
}

static void push_s(fh_value *l, const char *s, int *rc)
{
    push(l, *rc ? NULL : fh_value_new_string(s), rc);
}

static fh_value *healthcheck(const fh_value *args, int *rc)
{
    fh_value *h = map(rc), *test = list(rc);
    push_s(test, "CMD", rc);
    push_s(test, "flowhost", rc);
    for (size_t i = 0; *rc == 0 && i < fh_value_len(args); i++)
        push_s(test, fh_value_string(fh_list_at(args, i)), rc);
    put(h, "test", test, rc);
    put_s(h, "interval", "5s", rc);
    put_s(h, "timeout", "5s", rc);
    return h;
}

/* The files of Secret SECRET as configs mounted at FH_EXPORT_KEYS/FILE, owned by the
 * image's user, mode 0600 (flowhost refuses a secret key others may read). */
static void add_keys(fh_value *svc, fh_value *configs, const fh_value *secrets,
                     const char *secret, int *rc)
{
    const fh_value *files = fh_map_get(secrets, secret);
    fh_value *cl = fh_map_get(svc, "configs");
    if (cl == NULL) {
        cl = list(rc);
        put(svc, "configs", cl, rc);
    }
    char uid[16];
    snprintf(uid, sizeof uid, "%d", FH_EXPORT_UID);
    for (size_t i = 0; *rc == 0 && i < fh_value_len(files); i++) {
        const char *file = fh_map_key_at(files, i);
        char name[300], target[300];
        snprintf(name, sizeof name, "%s-%s", secret, file);
        snprintf(target, sizeof target, FH_EXPORT_KEYS "/%s", file);
        if (fh_map_get(configs, name) == NULL) {
            fh_value *c = map(rc);
            put_s(c, "content", fh_value_string(fh_map_value_at(files, i)), rc);
            put(configs, name, c, rc);
        }
        fh_value *m = map(rc);
        put_s(m, "source", name, rc);
        put_s(m, "target", target, rc);
        put_s(m, "uid", uid, rc);
        put_s(m, "gid", uid, rc);
        put(m, "mode", *rc ? NULL : fh_value_new_int(0600), rc);
        push(cl, m, rc);
    }
}

int fh_export_compose(const fh_export_plan *p, const fh_export_options *o, const char *path)
{
    int rc = 0;
    fh_value *doc = map(&rc), *services = map(&rc), *configs = map(&rc), *volumes = map(&rc);
    for (size_t i = 0; rc == 0 && i < p->n_workers; i++) {
        const fh_export_worker *w = &p->workers[i];
        for (int r = 0; rc == 0 && r < w->replicas; r++) {
            char name[128], alias[160], num[16];
            snprintf(name, sizeof name, "%s-%d", w->name, r);
            fh_export_replica_host(w, r, alias, sizeof alias);
            snprintf(num, sizeof num, "%d", r);
            fh_value *svc = map(&rc), *ep = list(&rc), *cmd = list(&rc);
            put_s(svc, "image", o->image, &rc);
            push_s(ep, "flowhost", &rc);
            put(svc, "entrypoint", ep, &rc);
            for (size_t k = 0; rc == 0 && k < fh_value_len(w->args); k++)
                push_s(cmd, fh_value_string(fh_list_at(w->args, k)), &rc);
            push_s(cmd, "--replica", &rc);
            push_s(cmd, num, &rc);
            put(svc, "command", cmd, &rc);
            if (fh_value_len(w->env) > 0)
                put(svc, "environment", rc ? NULL : fh_value_copy(w->env), &rc);
            fh_value *nets = map(&rc), *def = map(&rc), *aliases = list(&rc);
            push_s(aliases, alias, &rc);
            put(def, "aliases", aliases, &rc);
            put(nets, "default", def, &rc);
            put(svc, "networks", nets, &rc);
            put(svc, "healthcheck", healthcheck(w->probe, &rc), &rc);
            if (w->workspace) {
                char vol[160], mount[200];
                snprintf(vol, sizeof vol, "%s-workspace", name);
                snprintf(mount, sizeof mount, "%s:" FH_EXPORT_WORKSPACE, vol);
                fh_value *vl = list(&rc);
                push_s(vl, mount, &rc);
                put(svc, "volumes", vl, &rc);
                put(volumes, vol, map(&rc), &rc);
            }
            if (w->secret)
                add_keys(svc, configs, p->secrets, w->secret, &rc);
            put_s(svc, "restart", "unless-stopped", &rc);
            put(services, name, svc, &rc);
        }
    }
    char *flow = NULL;
    size_t flow_len;
    if (rc == 0 && (rc = fh_export_yaml(p->flow, &flow, &flow_len)) == 0) {
        fh_value *c = map(&rc);
        put_s(c, "content", flow, &rc);
        put(configs, "gateway-flow", c, &rc);
    }
    free(flow);
    fh_value *gw = map(&rc), *ep = list(&rc), *cmd = list(&rc), *ports = list(&rc);
    fh_value *cl = list(&rc), *fm = map(&rc);
    put_s(gw, "image", o->image, &rc);
    push_s(ep, "flowhost", &rc);
    put(gw, "entrypoint", ep, &rc);
    push_s(cmd, "run", &rc);
    push_s(cmd, FH_EXPORT_FLOW, &rc);
    put(gw, "command", cmd, &rc);
    char port[64];
    snprintf(port, sizeof port, "%d:%d", p->port_zmq, p->port_zmq);
    push_s(ports, port, &rc);
    if (p->http) {
        snprintf(port, sizeof port, "%d:%d", p->port_http, p->port_http);
        push_s(ports, port, &rc);
    }
    put(gw, "ports", ports, &rc);
    put_s(fm, "source", "gateway-flow", &rc);
    put_s(fm, "target", FH_EXPORT_FLOW, &rc);
    push(cl, fm, &rc);
    put(gw, "configs", cl, &rc);
    if (rc == 0 && fh_map_get(p->secrets, "gateway-keys"))
        add_keys(gw, configs, p->secrets, "gateway-keys", &rc);
    put(gw, "healthcheck", healthcheck(p->gateway_probe, &rc), &rc);
    put_s(gw, "restart", "unless-stopped", &rc);
    put(services, "gateway", gw, &rc);
    put(doc, "services", services, &rc);
    put(doc, "configs", configs, &rc);
    if (rc == 0 && fh_value_len(volumes) > 0)
        put(doc, "volumes", volumes, &rc);
    else
        fh_value_destroy(&volumes);
    /* Compose expands $VAR in every value of its file, and Z85 keys, flows and env
       values may hold a '$' of their own */
    fh_value *out = rc == 0 ? fh_export_double_dollars(doc) : NULL;
    if (rc == 0 && out == NULL)
        rc = nomem();
    if (rc == 0)
        rc = fh_export_write(path, out, fh_value_len(p->secrets) > 0 ? 0600 : 0644);
    fh_value_destroy(&out);
    fh_value_destroy(&doc);
    return rc;
}
