#!/bin/sh
# Prints the Grafana dashboard(s) as a ConfigMap that Grafana's dashboard
# sidecar loads (label grafana_dashboard: "1"). The JSON stays where the
# observability work keeps it, deploy/grafana/*.json; this only wraps it.
#
#   dashboard-configmap.sh [NAMESPACE [FILE.json...]] | kubectl apply -f -
#   (NAMESPACE defaults to monitoring; files to deploy/grafana/*.json)
set -eu

namespace=${1:-monitoring}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
  set -- "$(dirname "$0")"/../grafana/*.json
  [ -f "$1" ] || { echo "dashboard-configmap: no deploy/grafana/*.json here" >&2; exit 2; }
fi

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: palisade-grafana-dashboards\n'
printf '  namespace: %s\n  labels:\n    grafana_dashboard: "1"\n' "$namespace"
printf '    app.kubernetes.io/part-of: palisade\ndata:\n'
for f in "$@"; do
  printf '  %s: |\n' "$(basename "$f")"
  sed 's/^/    /' "$f"
done
