/* Kubernetes manifests of an export plan (export_kube.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flowhost/error.h>

#include "export_kube.h"
#include "export_keys.h"
#include "export_tree.h"
#include "export_yaml.h"

static int nomem(void)
{
    return fh_set_error(FH_E_NOMEM, "out of memory");
}

/* apiVersion, kind, metadata {name, namespace, labels} of a new object. */
static fh_value *object(const char *api, const char *kind, const char *name, const char *app,
                        const char *component, const fh_export_options *o, int *rc)
{
    fh_value *obj = fh_tree_map(rc), *meta = fh_tree_map(rc), *labels = fh_tree_map(rc);
    fh_tree_put_s(obj, "apiVersion", api, rc);
    fh_tree_put_s(obj, "kind", kind, rc);
    fh_tree_put_s(meta, "name", name, rc);
    if (o->ns)
        fh_tree_put_s(meta, "namespace", o->ns, rc);
    fh_tree_put_s(labels, "app.kubernetes.io/name", app, rc);
    fh_tree_put_s(labels, "app.kubernetes.io/component", component, rc);
    fh_tree_put_s(labels, "app.kubernetes.io/part-of", "flowhost", rc);
    fh_tree_put(meta, "labels", labels, rc);
    fh_tree_put(obj, "metadata", meta, rc);
    return obj;
}

static fh_value *selector_labels(const char *app, int *rc)
{
    fh_value *m = fh_tree_map(rc);
    fh_tree_put_s(m, "app.kubernetes.io/name", app, rc);
    return m;
}

/* The folder an export writes, and the files it has written there (a map used as a
 * set), so that the files of an earlier export it no longer writes can go. */
typedef struct out_dir {
    const char *path;
    fh_value *written;
} out_dir;

static int write_obj(out_dir *dir, const char *name, const char *kind, fh_value *obj,
                     unsigned mode, int rc)
{
    if (rc == 0) {
        char file[512], path[4200];
        snprintf(file, sizeof file, "%s.%s.yml", name, kind);
        if (snprintf(path, sizeof path, "%s/%s", dir->path, file) >= (int)sizeof path)
            rc = fh_set_error(FH_E_IO, "%s: path too long", dir->path);
        else if ((rc = fh_export_write(path, obj, mode)) == 0 &&
                 fh_map_set(dir->written, file, fh_value_new_bool(true)) != 0)
            rc = nomem();
    }
    fh_value_destroy(&obj);
    return rc;
}

/* The label every object of an export carries: how a file of an earlier one is known. */
#define OURS "app.kubernetes.io/part-of: flowhost"

/* Refuses a folder holding anything but the manifests of an earlier export (a file of
 * the user's would be applied with them, or lost). */
static int check_dir(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return fh_set_error(FH_E_IO, "%s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* hidden: not applied by kubectl, nor touched here */
            continue;
        char file[4200], *text = NULL;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".yml") != 0 ||
            fh_export_read_file(file, &text) != 0 || strstr(text, OURS) == NULL)
            rc = fh_set_error(FH_E_INVAL, "%s: holds %s, which flowhost export did not "
                                          "write; export into a new or empty folder",
                              path, e->d_name);
        free(text);
    }
    closedir(d);
    return rc;
}

/* Removes the manifests of an earlier export that this one did not write again (a shard
 * or an executor that is gone), so that `kubectl apply -f DIR` does not bring it back. */
static int remove_stale(const out_dir *dir)
{
    DIR *d = opendir(dir->path);
    if (d == NULL)
        return fh_set_error(FH_E_IO, "%s: %s", dir->path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || fh_map_get(dir->written, e->d_name) != NULL)
            continue;
        char file[4200];
        snprintf(file, sizeof file, "%s/%s", dir->path, e->d_name);
        if (unlink(file) != 0)
            rc = fh_set_error(FH_E_IO, "%s: cannot remove it: %s", file, strerror(errno));
    }
    closedir(d);
    return rc;
}

/* `ports` of a container: name -> port pairs. */
static fh_value *container_port(const char *name, int port, int *rc)
{
    fh_value *p = fh_tree_map(rc);
    fh_tree_put_s(p, "name", name, rc);
    fh_tree_put_i(p, "containerPort", port, rc);
    return p;
}

static fh_value *service_port(const char *name, int port, int *rc)
{
    fh_value *p = fh_tree_map(rc);
    fh_tree_put_s(p, "name", name, rc);
    fh_tree_put_i(p, "port", port, rc);
    fh_tree_put_i(p, "targetPort", port, rc);
    return p;
}

static fh_value *exec_probe(const fh_value *args, int *rc)
{
    fh_value *probe = fh_tree_map(rc), *exec = fh_tree_map(rc), *cmd = fh_tree_list(rc);
    fh_tree_push_s(cmd, "flowhost", rc);
    for (size_t i = 0; *rc == 0 && i < fh_value_len(args); i++)
        fh_tree_push_s(cmd, fh_value_string(fh_list_at(args, i)), rc);
    fh_tree_put(exec, "command", cmd, rc);
    fh_tree_put(probe, "exec", exec, rc);
    fh_tree_put_i(probe, "periodSeconds", 5, rc);
    fh_tree_put_i(probe, "timeoutSeconds", 5, rc);
    return probe;
}

static fh_value *http_probe(const char *path, int port, bool tls, int *rc)
{
    fh_value *probe = fh_tree_map(rc), *get = fh_tree_map(rc);
    fh_tree_put_s(get, "path", path, rc);
    fh_tree_put_i(get, "port", port, rc);
    fh_tree_put_s(get, "scheme", tls ? "HTTPS" : "HTTP", rc);
    fh_tree_put(probe, "httpGet", get, rc);
    fh_tree_put_i(probe, "periodSeconds", 5, rc);
    return probe;
}

/* The securityContext of every container: what Pod Security's "restricted" level asks
 * (the pod runs as the image's user, never root: pod_spec). */
static fh_value *container_security(int *rc)
{
    fh_value *ctx = fh_tree_map(rc), *caps = fh_tree_map(rc), *drop = fh_tree_list(rc);
    fh_tree_put(ctx, "allowPrivilegeEscalation", *rc ? NULL : fh_value_new_bool(false), rc);
    fh_tree_push_s(drop, "ALL", rc);
    fh_tree_put(caps, "drop", drop, rc);
    fh_tree_put(ctx, "capabilities", caps, rc);
    return ctx;
}

/* The pod's keys: the Secret SECRET mounted read-only for an init container to copy to an
 * in-memory folder at FH_EXPORT_KEYS, mode 0600 — a Secret's own files are links,
 * belong to root and are group-readable at best, which flowhost would refuse. The init
 * container runs as the image's user like the others (Pod Security "restricted"): the
 * Secret's files are given to the pod's fsGroup, readable by the group (0440), so it can
 * read them, and the copies it makes are its own. */
static void add_keys(fh_value *pod, fh_value *container, const char *secret,
                     const fh_export_options *o, int *rc)
{
    fh_value *vols = fh_map_get(pod, "volumes");
    if (vols == NULL) {
        vols = fh_tree_list(rc);
        fh_tree_put(pod, "volumes", vols, rc);
    }
    fh_value *v1 = fh_tree_map(rc), *sec = fh_tree_map(rc), *v2 = fh_tree_map(rc),
             *mem = fh_tree_map(rc);
    fh_tree_put_s(v1, "name", "keys-in", rc);
    fh_tree_put_s(sec, "secretName", secret, rc);
    fh_tree_put_i(sec, "defaultMode", 0440, rc);
    fh_tree_put(v1, "secret", sec, rc);
    fh_tree_push(vols, v1, rc);
    fh_tree_put_s(v2, "name", "keys", rc);
    fh_tree_put_s(mem, "medium", "Memory", rc);
    fh_tree_put(v2, "emptyDir", mem, rc);
    fh_tree_push(vols, v2, rc);

    fh_value *init = fh_tree_map(rc), *cmd = fh_tree_list(rc), *mounts = fh_tree_list(rc);
    fh_value *m1 = fh_tree_map(rc), *m2 = fh_tree_map(rc), *inits = fh_tree_list(rc);
    fh_tree_put_s(init, "name", "keys", rc);
    fh_tree_put_s(init, "image", o->image, rc);
    fh_tree_push_s(cmd, "sh", rc);
    fh_tree_push_s(cmd, "-c", rc);
    fh_tree_push_s(cmd,
                   "cp -L /keys-in/* " FH_EXPORT_KEYS "/ && chmod 0600 " FH_EXPORT_KEYS "/*", rc);
    fh_tree_put(init, "command", cmd, rc);
    fh_tree_put(init, "securityContext", container_security(rc), rc);
    fh_tree_put_s(m1, "name", "keys-in", rc);
    fh_tree_put_s(m1, "mountPath", "/keys-in", rc);
    fh_tree_push(mounts, m1, rc);
    fh_tree_put_s(m2, "name", "keys", rc);
    fh_tree_put_s(m2, "mountPath", FH_EXPORT_KEYS, rc);
    fh_tree_push(mounts, m2, rc);
    fh_tree_put(init, "volumeMounts", mounts, rc);
    fh_tree_push(inits, init, rc);
    fh_tree_put(pod, "initContainers", inits, rc);

    fh_value *cm = fh_map_get(container, "volumeMounts");
    if (cm == NULL) {
        cm = fh_tree_list(rc);
        fh_tree_put(container, "volumeMounts", cm, rc);
    }
    fh_value *m3 = fh_tree_map(rc);
    fh_tree_put_s(m3, "name", "keys", rc);
    fh_tree_put_s(m3, "mountPath", FH_EXPORT_KEYS, rc);
    fh_tree_put(m3, "readOnly", *rc ? NULL : fh_value_new_bool(true), rc);
    fh_tree_push(cm, m3, rc);
}

/* A pod spec running the image as its user, with CONTAINER. */
static fh_value *pod_spec(fh_value *container, int *rc)
{
    fh_value *pod = fh_tree_map(rc), *ctx = fh_tree_map(rc), *cs = fh_tree_list(rc),
             *seccomp = fh_tree_map(rc);
    fh_tree_put(ctx, "runAsNonRoot", *rc ? NULL : fh_value_new_bool(true), rc);
    fh_tree_put_i(ctx, "runAsUser", FH_EXPORT_UID, rc);
    fh_tree_put_i(ctx, "runAsGroup", FH_EXPORT_UID, rc);
    fh_tree_put_i(ctx, "fsGroup", FH_EXPORT_UID, rc);
    fh_tree_put_s(seccomp, "type", "RuntimeDefault", rc);
    fh_tree_put(ctx, "seccompProfile", seccomp, rc);
    fh_tree_put(pod, "securityContext", ctx, rc);
    fh_tree_put(container, "securityContext", container_security(rc), rc);
    /* no NAME_SERVICE_HOST/PORT variables of every Service in the namespace: they are
       not used, and would be expanded in $(VAR) of the args like any other */
    fh_tree_put(pod, "enableServiceLinks", *rc ? NULL : fh_value_new_bool(false), rc);
    fh_tree_push(cs, container, rc);
    fh_tree_put(pod, "containers", cs, rc);
    return pod;
}

static fh_value *template_spec(const char *app, fh_value *pod, int *rc)
{
    fh_value *t = fh_tree_map(rc), *meta = fh_tree_map(rc), *labels = fh_tree_map(rc);
    fh_tree_put_s(labels, "app.kubernetes.io/name", app, rc);
    fh_tree_put_s(labels, "app.kubernetes.io/part-of", "flowhost", rc);
    fh_tree_put(meta, "labels", labels, rc);
    fh_tree_put(t, "metadata", meta, rc);
    fh_tree_put(t, "spec", pod, rc);
    return t;
}

/* StatefulSet and headless Service of worker W. */
static int write_worker(const fh_export_worker *w, const fh_export_options *o, out_dir *dir)
{
    int rc = 0;
    fh_value *svc = object("v1", "Service", w->name, w->name, "worker", o, &rc);
    fh_value *sspec = fh_tree_map(&rc), *ports = fh_tree_list(&rc);
    fh_tree_put_s(sspec, "clusterIP", "None", &rc); /* headless: a DNS name per pod */
    /* the gateway reaches a worker before it is ready: it learns readiness itself */
    fh_tree_put(sspec, "publishNotReadyAddresses", rc ? NULL : fh_value_new_bool(true), &rc);
    fh_tree_put(sspec, "selector", selector_labels(w->name, &rc), &rc);
    fh_tree_push(ports, service_port("zmq", o->port, &rc), &rc);
    fh_tree_put(sspec, "ports", ports, &rc);
    fh_tree_put(svc, "spec", sspec, &rc);
    if ((rc = write_obj(dir, w->name, "service", svc, 0644, rc)) < 0)
        return rc;

    fh_value *ss = object("apps/v1", "StatefulSet", w->name, w->name, "worker", o, &rc);
    fh_value *spec = fh_tree_map(&rc), *sel = fh_tree_map(&rc);
    fh_tree_put_s(spec, "serviceName", w->name, &rc);
    fh_tree_put_i(spec, "replicas", w->replicas, &rc);
    fh_tree_put_s(spec, "podManagementPolicy", "Parallel", &rc);
    fh_tree_put(sel, "matchLabels", selector_labels(w->name, &rc), &rc);
    fh_tree_put(spec, "selector", sel, &rc);

    /* Kubernetes expands $(VAR) and turns $$ into $ in a container's args and env
       values: the flow's own '$' are doubled, only the $(FH_REPLICA) added here is
       meant for it */
    fh_value *args = rc ? NULL : fh_export_double_dollars(w->args);
    if (rc == 0 && args == NULL)
        rc = nomem();
    fh_value *c = fh_tree_map(&rc), *cmd = fh_tree_list(&rc), *env = fh_tree_list(&rc);
    fh_tree_put_s(c, "name", "worker", &rc);
    fh_tree_put_s(c, "image", o->image, &rc);
    fh_tree_push_s(cmd, "flowhost", &rc);
    fh_tree_put(c, "command", cmd, &rc);
    fh_tree_push_s(args, "--replica", &rc);
    fh_tree_push_s(args, "$(" FH_EXPORT_REPLICA_VAR ")", &rc);
    fh_tree_put(c, "args", args, &rc);
    fh_value *rv = fh_tree_map(&rc), *from = fh_tree_map(&rc), *field = fh_tree_map(&rc);
    fh_tree_put_s(rv, "name", FH_EXPORT_REPLICA_VAR, &rc);
    fh_tree_put_s(field, "fieldPath", "metadata.labels['apps.kubernetes.io/pod-index']", &rc);
    fh_tree_put(from, "fieldRef", field, &rc);
    fh_tree_put(rv, "valueFrom", from, &rc);
    fh_tree_push(env, rv, &rc);
    for (size_t i = 0; rc == 0 && i < fh_value_len(w->env); i++) {
        fh_value *e = fh_tree_map(&rc);
        fh_tree_put_s(e, "name", fh_map_key_at(w->env, i), &rc);
        fh_tree_put(e, "value", fh_export_double_dollars(fh_map_value_at(w->env, i)), &rc);
        fh_tree_push(env, e, &rc);
    }
    fh_tree_put(c, "env", env, &rc);
    fh_value *cports = fh_tree_list(&rc);
    fh_tree_push(cports, container_port("zmq", o->port, &rc), &rc);
    fh_tree_put(c, "ports", cports, &rc);
    fh_tree_put(c, "readinessProbe", exec_probe(w->probe, &rc), &rc);
    fh_value *pod = pod_spec(c, &rc);
    if (w->workspace) {
        fh_value *vols = fh_tree_list(&rc), *v = fh_tree_map(&rc), *mounts = fh_tree_list(&rc),
                 *m = fh_tree_map(&rc);
        fh_tree_put_s(v, "name", "workspace", &rc);
        fh_tree_put(v, "emptyDir", fh_tree_map(&rc), &rc);
        fh_tree_push(vols, v, &rc);
        fh_tree_put(pod, "volumes", vols, &rc);
        fh_tree_put_s(m, "name", "workspace", &rc);
        fh_tree_put_s(m, "mountPath", FH_EXPORT_WORKSPACE, &rc);
        fh_tree_push(mounts, m, &rc);
        fh_tree_put(c, "volumeMounts", mounts, &rc);
    }
    if (w->secret)
        add_keys(pod, c, w->secret, o, &rc);
    fh_tree_put(spec, "template", template_spec(w->name, pod, &rc), &rc);
    fh_tree_put(ss, "spec", spec, &rc);
    return write_obj(dir, w->name, "statefulset", ss, 0644, rc);
}

static int write_gateway(const fh_export_plan *p, const fh_export_options *o, out_dir *dir)
{
    int rc = 0;
    char *flow = NULL;
    size_t flow_len;
    if ((rc = fh_export_yaml(p->flow, &flow, &flow_len)) < 0)
        return rc;
    fh_value *cm = object("v1", "ConfigMap", "gateway-flow", "gateway", "gateway", o, &rc);
    fh_value *data = fh_tree_map(&rc);
    fh_tree_put_s(data, "flow.yml", flow, &rc);
    fh_tree_put(cm, "data", data, &rc);
    free(flow);
    if ((rc = write_obj(dir, "gateway-flow", "configmap", cm, 0644, rc)) < 0)
        return rc;

    fh_value *svc = object("v1", "Service", "gateway", "gateway", "gateway", o, &rc);
    fh_value *sspec = fh_tree_map(&rc), *ports = fh_tree_list(&rc);
    fh_tree_put(sspec, "selector", selector_labels("gateway", &rc), &rc);
    fh_tree_push(ports, service_port("zmq", p->port_zmq, &rc), &rc);
    if (p->http)
        fh_tree_push(ports, service_port("http", p->port_http, &rc), &rc);
    fh_tree_put(sspec, "ports", ports, &rc);
    fh_tree_put(svc, "spec", sspec, &rc);
    if ((rc = write_obj(dir, "gateway", "service", svc, 0644, rc)) < 0)
        return rc;

    fh_value *d = object("apps/v1", "Deployment", "gateway", "gateway", "gateway", o, &rc);
    fh_value *spec = fh_tree_map(&rc), *sel = fh_tree_map(&rc), *strategy = fh_tree_map(&rc);
    fh_tree_put_i(spec, "replicas", 1, &rc);
    /* a worker serves one gateway at a time: a second one must not start beside it */
    fh_tree_put_s(strategy, "type", "Recreate", &rc);
    fh_tree_put(spec, "strategy", strategy, &rc);
    fh_tree_put(sel, "matchLabels", selector_labels("gateway", &rc), &rc);
    fh_tree_put(spec, "selector", sel, &rc);
    fh_value *c = fh_tree_map(&rc), *cmd = fh_tree_list(&rc), *args = fh_tree_list(&rc),
             *cports = fh_tree_list(&rc);
    fh_tree_put_s(c, "name", "gateway", &rc);
    fh_tree_put_s(c, "image", o->image, &rc);
    fh_tree_push_s(cmd, "flowhost", &rc);
    fh_tree_put(c, "command", cmd, &rc);
    fh_tree_push_s(args, "run", &rc);
    fh_tree_push_s(args, FH_EXPORT_FLOW, &rc);
    fh_tree_put(c, "args", args, &rc);
    fh_tree_push(cports, container_port("zmq", p->port_zmq, &rc), &rc);
    if (p->http)
        fh_tree_push(cports, container_port("http", p->port_http, &rc), &rc);
    fh_tree_put(c, "ports", cports, &rc);
    /* The gateway opens no port until its workers answer or timeout_ready runs out:
       a startupProbe holds the other probes back that long (and a margin), so that the
       liveness probe does not kill a gateway that waits for its workers. A flow that
       waits forever gets no liveness probe: nothing could tell waiting from wedged. */
    fh_value *startup = p->http ? http_probe("/health/live", p->port_http, p->tls, &rc)
                                : exec_probe(p->gateway_probe, &rc);
    if (p->startup_s > 0) {
        fh_tree_put_i(startup, "failureThreshold", (p->startup_s + 4) / 5, &rc);
        fh_tree_put(c, "startupProbe", startup, &rc);
    } else {
        fh_value_destroy(&startup);
    }
    if (p->http) {
        if (p->startup_s > 0)
            fh_tree_put(c, "livenessProbe", http_probe("/health/live", p->port_http, p->tls, &rc),
                &rc);
        fh_tree_put(c, "readinessProbe",
                    http_probe("/health/ready", p->port_http, p->tls, &rc), &rc);
    } else {
        fh_tree_put(c, "readinessProbe", exec_probe(p->gateway_probe, &rc), &rc);
    }
    fh_value *mounts = fh_tree_list(&rc), *m = fh_tree_map(&rc);
    fh_tree_put_s(m, "name", "flow", &rc);
    fh_tree_put_s(m, "mountPath", FH_EXPORT_FLOW_DIR, &rc);
    fh_tree_put(m, "readOnly", rc ? NULL : fh_value_new_bool(true), &rc);
    fh_tree_push(mounts, m, &rc);
    fh_tree_put(c, "volumeMounts", mounts, &rc);
    fh_value *pod = pod_spec(c, &rc);
    /* SIGTERM drains: the requests it holds are answered before it exits */
    fh_tree_put_i(pod, "terminationGracePeriodSeconds", p->grace_s, &rc);
    fh_value *vols = fh_tree_list(&rc), *v = fh_tree_map(&rc), *cmv = fh_tree_map(&rc);
    fh_tree_put_s(v, "name", "flow", &rc);
    fh_tree_put_s(cmv, "name", "gateway-flow", &rc);
    fh_tree_put(v, "configMap", cmv, &rc);
    fh_tree_push(vols, v, &rc);
    fh_tree_put(pod, "volumes", vols, &rc);
    if (rc == 0 && fh_map_get(p->secrets, "gateway-keys"))
        add_keys(pod, c, "gateway-keys", o, &rc);
    fh_tree_put(spec, "template", template_spec("gateway", pod, &rc), &rc);
    fh_tree_put(d, "spec", spec, &rc);
    return write_obj(dir, "gateway", "deployment", d, 0644, rc);
}

static int write_secrets(const fh_export_plan *p, const fh_export_options *o, out_dir *dir)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fh_value_len(p->secrets); i++) {
        const char *name = fh_map_key_at(p->secrets, i);
        fh_value *s = object("v1", "Secret", name, name, "keys", o, &rc);
        fh_tree_put_s(s, "type", "Opaque", &rc);
        fh_tree_put(s, "stringData", fh_tree_copy(fh_map_value_at(p->secrets, i), &rc), &rc);
        rc = write_obj(dir, name, "secret", s, 0600, rc);
    }
    return rc;
}

int fh_export_kubernetes(const fh_export_plan *p, const fh_export_options *o, const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return fh_set_error(FH_E_IO, "%s: cannot make it: %s", path, strerror(errno));
    int rc = check_dir(path);
    if (rc < 0)
        return rc;
    out_dir dir = {.path = path, .written = fh_value_new_map()};
    if (dir.written == NULL)
        return nomem();
    if (o->ns) {
        fh_value *ns = object("v1", "Namespace", o->ns, o->ns, "namespace", o, &rc);
        if (rc == 0)
            fh_map_remove(fh_map_get(ns, "metadata"), "namespace");
        /* kubectl applies a folder in the order of its file names: the Namespace must
           come first, or the first apply fails on every object in it */
        char file[300];
        snprintf(file, sizeof file, "00-%s", o->ns);
        rc = write_obj(&dir, file, "namespace", ns, 0644, rc);
    }
    for (size_t i = 0; rc == 0 && i < p->n_workers; i++)
        rc = write_worker(&p->workers[i], o, &dir);
    if (rc == 0)
        rc = write_secrets(p, o, &dir);
    if (rc == 0)
        rc = write_gateway(p, o, &dir);
    if (rc == 0)
        rc = remove_stale(&dir);
    fh_value_destroy(&dir.written);
    return rc;
}
