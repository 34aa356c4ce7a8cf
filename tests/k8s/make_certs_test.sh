#!/usr/bin/env bash
# deploy/kubernetes/make-certs.sh: its key-encryption key is 32 random bytes
# in base64, mode 0400, never printed, and a second run keeps it (a new one
# would not open the CA sealed in etcd); its webhook certificate verifies for
# the Service's name. etcd's: every key 0400 and never printed, each member's
# certificate chains to the etcd CA and names its pod, the Service and
# 127.0.0.1 for server and client (peer) use, palisade-control's client
# certificate chains to it too, and the webhook's does not. That
# palisade-control accepts the keys, copied by the init containers, and etcd
# the certificates is control_plane_manifest_test's.
set -euo pipefail
out=$(mktemp -d "${TEST_TMPDIR:-/tmp}/certs-XXXXXX")
printed=$(deploy/kubernetes/make-certs.sh "$out" 2>&1)
sums() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
before=$(sums "$out")
deploy/kubernetes/make-certs.sh "$out" 2>/dev/null
[ "$before" = "$(sums "$out")" ] || { echo "FAIL: a second run changed files"; exit 1; }

cd "$out"
openssl verify -CAfile webhook-ca.crt -verify_hostname palisade-control.palisade.svc tls.crt

[ "$(stat -c %a ca-kek)" = 400 ] || { echo "FAIL: ca-kek is mode $(stat -c %a ca-kek), not 0400"; exit 1; }
[ "$(base64 -d ca-kek | wc -c)" = 32 ] || { echo "FAIL: ca-kek is not 32 bytes in base64"; exit 1; }
if grep -qF "$(cat ca-kek)" <<<"$printed"; then
  echo "FAIL: make-certs.sh printed the key-encryption key"
  exit 1
fi
# etcd: one folder per Secret (README: --from-file=FOLDER).
etcd=palisade-etcd-tls client=palisade-etcd-client-tls
for f in $etcd/ca.crt $etcd/palisade-etcd-{0,1,2}.{crt,key} $client/{ca.crt,tls.crt,tls.key}; do
  [ -f "$f" ] || { echo "FAIL: make-certs.sh made no $f"; exit 1; }
done
for key in $(find . -name '*.key'); do
  [ "$(stat -c %a "$key")" = 400 ] || { echo "FAIL: $key is mode $(stat -c %a "$key"), not 0400"; exit 1; }
  if grep -qF "$(sed -n 2p "$key")" <<<"$printed"; then echo "FAIL: make-certs.sh printed $key"; exit 1; fi
done
cmp -s $etcd/ca.crt $client/ca.crt || { echo "FAIL: two etcd CAs"; exit 1; }
for n in 0 1 2; do
  crt=$etcd/palisade-etcd-$n.crt
  for name in palisade-etcd-$n.palisade-etcd.palisade.svc palisade-etcd.palisade.svc; do
    openssl verify -CAfile $etcd/ca.crt -purpose sslserver -verify_hostname "$name" "$crt"
  done
  openssl verify -CAfile $etcd/ca.crt -purpose sslserver -verify_ip 127.0.0.1 "$crt"
  openssl verify -CAfile $etcd/ca.crt -purpose sslclient "$crt"  # it dials its peers
  # Each member's own name, not its neighbour's.
  if openssl verify -CAfile $etcd/ca.crt -verify_hostname "palisade-etcd-$(((n + 1) % 3)).palisade-etcd.palisade.svc" "$crt" >/dev/null 2>&1; then
    echo "FAIL: $crt names another member"; exit 1
  fi
  [ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$(openssl pkey -in $etcd/palisade-etcd-$n.key -pubout)" ] ||
    { echo "FAIL: palisade-etcd-$n.key is not $crt's key"; exit 1; }
done
openssl verify -CAfile $client/ca.crt -purpose sslclient $client/tls.crt
openssl x509 -in $etcd/ca.crt -noout -text | grep -q "ASN1 OID: prime256v1" || { echo "FAIL: etcd CA is not P-256"; exit 1; }
# The check can fail: the webhook's certificate does not chain to etcd's CA.
if openssl verify -CAfile $etcd/ca.crt tls.crt >/dev/null 2>&1; then
  echo "FAIL: the webhook's certificate chains to etcd's CA"; exit 1
fi

# Two runs into two folders: two different keys.
other=$(mktemp -d "${TEST_TMPDIR:-/tmp}/certs-XXXXXX")
"$OLDPWD"/deploy/kubernetes/make-certs.sh "$other" 2>/dev/null
cmp -s ca-kek "$other/ca-kek" && { echo "FAIL: two runs made the same key"; exit 1; }
# A wrong call is refused with its usage, not run with a guessed folder.
if "$OLDPWD"/deploy/kubernetes/make-certs.sh 2>/dev/null; then
  echo "FAIL: make-certs.sh without OUT_DIR exited 0"
  exit 1
fi
echo "make_certs_test: ok"
