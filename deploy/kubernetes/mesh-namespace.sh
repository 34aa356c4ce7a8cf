#!/bin/sh
# Prints the two ConfigMaps every meshed namespace needs (ConfigMap volumes
# cannot cross namespaces): palisade-proxy (proxy.yaml, this folder's) and
# palisade-root-bundle (root-bundle.pem, the roots that authenticate
# palisade-control at a proxy's first contact). Re-run and apply after a root
# rotation.
#
#   mesh-namespace.sh NAMESPACE ROOT_BUNDLE_PEM | kubectl apply -f -
set -eu

[ $# -eq 2 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
namespace=$1
bundle=$2
here=$(dirname "$0")
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
