/* The writers of `flowhost export`: Kubernetes manifests and a Compose file, both from
 * one plan (export_plan.h), so that both deploy the same workers and the same flow. */
#ifndef FH_HOST_EXPORT_KUBE_H
#define FH_HOST_EXPORT_KUBE_H

#include "export_plan.h"

/* The user the image runs as (Dockerfile): Secrets are copied to it, mode 0600, because
 * flowhost refuses a secret key that anyone else may read. */
#define FH_EXPORT_UID 10001

/* Writes the manifests of P into the folder DIR (made when missing), one object a file,
 * named NAME.KIND.yml: per workload W a StatefulSet and its headless Service; the
 * gateway's Deployment, Service and ConfigMap (gateway-flow); a Secret per key set; the
 * Namespace when OPTS->ns is given. DIR may hold an earlier export's files (every object
 * carries the label app.kubernetes.io/part-of: flowhost): they are replaced, and those not
 * written again are removed; anything else in DIR is refused before a file is written.
 * Returns 0, or FH_E_INVAL (DIR holds other files), FH_E_IO ("PATH: why") / FH_E_NOMEM. */
int fh_export_kubernetes(const fh_export_plan *p, const fh_export_options *opts,
                         const char *dir);

/* Writes the Compose file of P to PATH: a service per worker replica (named W-R, with
 * the network alias W-R.W that the flow uses), the gateway, the flow and the keys as
 * inline configs. Returns 0, or FH_E_IO / FH_E_NOMEM. */
int fh_export_compose(const fh_export_plan *p, const fh_export_options *opts,
                      const char *path);

#endif
