/* The Compose file of an export plan (export_kube.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flowhost/error.h>

#include "export_kube.h"
#include "export_tree.h"
#include "export_yaml.h"

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

static fh_value *healthcheck(const fh_value *args, int *rc)
{
    fh_value *h = fh_tree_map(rc), *test = fh_tree_list(rc);
    fh_tree_push_s(test, "CMD", rc);
    fh_tree_push_s(test, "flowhost", rc);
    for (size_t i = 0; *rc == 0 && i < fh_value_len(args); i++)
        fh_tree_push_s(test, fh_value_string(fh_list_at(args, i)), rc);
    fh_tree_put(h, "test", test, rc);
    fh_tree_put_s(h, "interval", "5s", rc);
    fh_tree_put_s(h, "timeout", "5s", rc);
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
        cl = fh_tree_list(rc);
        fh_tree_put(svc, "configs", cl, rc);
    }
    char uid[16];
    snprintf(uid, sizeof uid, "%d", FH_EXPORT_UID);
    for (size_t i = 0; *rc == 0 && i < fh_value_len(files); i++) {
        const char *file = fh_map_key_at(files, i);
        char name[300], target[300];
        snprintf(name, sizeof name, "%s-%s", secret, file);
        snprintf(target, sizeof target, FH_EXPORT_KEYS "/%s", file);
        if (fh_map_get(configs, name) == NULL) {
            fh_value *c = fh_tree_map(rc);
            fh_tree_put_s(c, "content", fh_value_string(fh_map_value_at(files, i)), rc);
            fh_tree_put(configs, name, c, rc);
        }
        fh_value *m = fh_tree_map(rc);
        fh_tree_put_s(m, "source", name, rc);
        fh_tree_put_s(m, "target", target, rc);
        fh_tree_put_s(m, "uid", uid, rc);
        fh_tree_put_s(m, "gid", uid, rc);
        fh_tree_put(m, "mode", *rc ? NULL : fh_value_new_int(0600), rc);
        fh_tree_push(cl, m, rc);
    }
}

int fh_export_compose(const fh_export_plan *p, const fh_export_options *o, const char *path)
{
    int rc = 0;
    fh_value *doc = fh_tree_map(&rc), *services = fh_tree_map(&rc), *configs = fh_tree_map(&rc),
             *volumes = fh_tree_map(&rc);
    for (size_t i = 0; rc == 0 && i < p->n_workers; i++) {
        const fh_export_worker *w = &p->workers[i];
        for (int r = 0; rc == 0 && r < w->replicas; r++) {
            char name[128], alias[160], num[16];
            snprintf(name, sizeof name, "%s-%d", w->name, r);
            fh_export_replica_host(w, r, alias, sizeof alias);
            snprintf(num, sizeof num, "%d", r);
            fh_value *svc = fh_tree_map(&rc), *ep = fh_tree_list(&rc), *cmd = fh_tree_list(&rc);
            fh_tree_put_s(svc, "image", o->image, &rc);
            fh_tree_push_s(ep, "flowhost", &rc);
            fh_tree_put(svc, "entrypoint", ep, &rc);
            for (size_t k = 0; rc == 0 && k < fh_value_len(w->args); k++)
                fh_tree_push_s(cmd, fh_value_string(fh_list_at(w->args, k)), &rc);
            fh_tree_push_s(cmd, "--replica", &rc);
            fh_tree_push_s(cmd, num, &rc);
            fh_tree_put(svc, "command", cmd, &rc);
            if (fh_value_len(w->env) > 0)
                fh_tree_put(svc, "environment", rc ? NULL : fh_value_copy(w->env), &rc);
            fh_value *nets = fh_tree_map(&rc), *def = fh_tree_map(&rc),
                     *aliases = fh_tree_list(&rc);
            fh_tree_push_s(aliases, alias, &rc);
            fh_tree_put(def, "aliases", aliases, &rc);
            fh_tree_put(nets, "default", def, &rc);
            fh_tree_put(svc, "networks", nets, &rc);
            fh_tree_put(svc, "healthcheck", healthcheck(w->probe, &rc), &rc);
            if (w->workspace) {
                char vol[160], mount[200];
                snprintf(vol, sizeof vol, "%s-workspace", name);
                snprintf(mount, sizeof mount, "%s:" FH_EXPORT_WORKSPACE, vol);
                fh_value *vl = fh_tree_list(&rc);
                fh_tree_push_s(vl, mount, &rc);
                fh_tree_put(svc, "volumes", vl, &rc);
                fh_tree_put(volumes, vol, fh_tree_map(&rc), &rc);
            }
            if (w->secret)
                add_keys(svc, configs, p->secrets, w->secret, &rc);
            fh_tree_put_s(svc, "restart", "unless-stopped", &rc);
            fh_tree_put(services, name, svc, &rc);
        }
    }
    char *flow = NULL;
    size_t flow_len;
    if (rc == 0 && (rc = fh_export_yaml(p->flow, &flow, &flow_len)) == 0) {
        fh_value *c = fh_tree_map(&rc);
        fh_tree_put_s(c, "content", flow, &rc);
        fh_tree_put(configs, "gateway-flow", c, &rc);
    }
    free(flow);
    fh_value *gw = fh_tree_map(&rc), *ep = fh_tree_list(&rc), *cmd = fh_tree_list(&rc),
             *ports = fh_tree_list(&rc);
    fh_value *cl = fh_tree_list(&rc), *fm = fh_tree_map(&rc);
    fh_tree_put_s(gw, "image", o->image, &rc);
    fh_tree_push_s(ep, "flowhost", &rc);
    fh_tree_put(gw, "entrypoint", ep, &rc);
    fh_tree_push_s(cmd, "run", &rc);
    fh_tree_push_s(cmd, FH_EXPORT_FLOW, &rc);
    fh_tree_put(gw, "command", cmd, &rc);
    char port[64];
    snprintf(port, sizeof port, "%d:%d", p->port_zmq, p->port_zmq);
    fh_tree_push_s(ports, port, &rc);
    if (p->http) {
        snprintf(port, sizeof port, "%d:%d", p->port_http, p->port_http);
        fh_tree_push_s(ports, port, &rc);
    }
    fh_tree_put(gw, "ports", ports, &rc);
    fh_tree_put_s(fm, "source", "gateway-flow", &rc);
    fh_tree_put_s(fm, "target", FH_EXPORT_FLOW, &rc);
    fh_tree_push(cl, fm, &rc);
    fh_tree_put(gw, "configs", cl, &rc);
    if (rc == 0 && fh_map_get(p->secrets, "gateway-keys"))
        add_keys(gw, configs, p->secrets, "gateway-keys", &rc);
    fh_tree_put(gw, "healthcheck", healthcheck(p->gateway_probe, &rc), &rc);
    fh_tree_put_s(gw, "restart", "unless-stopped", &rc);
    fh_tree_put(services, "gateway", gw, &rc);
    fh_tree_put(doc, "services", services, &rc);
    fh_tree_put(doc, "configs", configs, &rc);
    if (rc == 0 && fh_value_len(volumes) > 0)
        fh_tree_put(doc, "volumes", volumes, &rc);
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
