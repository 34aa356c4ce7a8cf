#!/usr/bin/env bash
# deploy/kubernetes/make-certs.sh: its key-encryption key is 32 random bytes
# in base64, mode 0400, never printed, and a second run keeps it (a new one
# would not open the CA sealed in etcd); its webhook certificate verifies for
# the Service's name. That palisade-control accepts the key, copied by the
# init container, is control_plane_manifest_test's.
set -euo pipefail
out=$(mktemp -d "${TEST_TMPDIR:-/tmp}/certs-XXXXXX")
printed=$(deploy/kubernetes/make-certs.sh "$out" 2>&1)
before=$(sha256sum "$out"/*)
deploy/kubernetes/make-certs.sh "$out" 2>/dev/null
[ "$before" = "$(sha256sum "$out"/*)" ] || { echo "FAIL: a second run changed files"; exit 1; }

cd "$out"
openssl verify -CAfile webhook-ca.crt -verify_hostname palisade-control.palisade.svc tls.crt

[ "$(stat -c %a ca-kek)" = 400 ] || { echo "FAIL: ca-kek is mode $(stat -c %a ca-kek), not 0400"; exit 1; }
[ "$(base64 -d ca-kek | wc -c)" = 32 ] || { echo "FAIL: ca-kek is not 32 bytes in base64"; exit 1; }
if grep -qF "$(cat ca-kek)" <<<"$printed"; then
  echo "FAIL: make-certs.sh printed the key-encryption key"
  exit 1
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
