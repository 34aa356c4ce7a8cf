#!/bin/sh
# Prints the two ConfigMaps every meshed namespace needs (ConfigMap volumes
# cannot cross namespaces): palisade-proxy (proxy.yaml, this folder's) and
# palisade-root-bundle (root-bundle.pem, the roots that authenticate
# palisade-control at a proxy's first contact). Without ROOT_BUNDLE_PEM it
# reads the control plane's current trust bundle from a running replica
# (kubectl exec; $KUBECTL overrides the command). Re-run and apply after
# `palisade-control rollover start` and again once the rollover is done.
#
#   mesh-namespace.sh NAMESPACE [ROOT_BUNDLE_PEM] | kubectl apply -f -
set -eu

[ $# -eq 1 ] || [ $# -eq 2 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
namespace=$1
here=$(dirname "$0")
if [ $# -eq 2 ]; then
  bundle=$2
else
  # The bundle palisade-control keeps in its --state_dir (control-plane.yaml):
  # every replica's copy of the one bundle stored in etcd.
  bundle=$(mktemp)
  trap 'rm -f "$bundle"' EXIT
  ${KUBECTL:-kubectl} -n palisade exec deploy/palisade-control -c palisade-control -- \
    cat /var/lib/palisade/state/bundle.pem >"$bundle" ||
    { echo "mesh-namespace: cannot read the trust bundle from deploy/palisade-control" >&2; exit 2; }
fi
grep -q -- "-----BEGIN CERTIFICATE-----" "$bundle" ||
  { echo "mesh-namespace: $bundle holds no PEM certificate" >&2; exit 2; }

# configmap NAME KEY FILE: one ConfigMap with FILE as a literal block.
configmap() {
  printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n' \
    "$1" "$namespace"
  printf '  labels:\n    app.kubernetes.io/part-of: palisade\ndata:\n  %s: |\n' "$2"
  sed 's/^/    /' "$3"
}

configmap palisade-proxy proxy.yaml "$here/proxy.yaml"
configmap palisade-root-bundle root-bundle.pem "$bundle"
