#!/usr/bin/env bash
# deploy/kubernetes/make-certs.sh: its plug-in CA issues an X.509-SVID that
# palisade-proxy --validate accepts under root-bundle.pem (and refuses under
# another root); its webhook certificate verifies for the Service's name; a
# second run keeps what exists.
set -euo pipefail
proxy=$PWD/proxy/palisade-proxy
out=$(mktemp -d "${TEST_TMPDIR:-/tmp}/certs-XXXXXX")
deploy/kubernetes/make-certs.sh "$out" cluster.local 2>/dev/null
before=$(sha256sum "$out"/*)
deploy/kubernetes/make-certs.sh "$out" cluster.local 2>/dev/null
[ "$before" = "$(sha256sum "$out"/*)" ] || { echo "FAIL: a second run changed files"; exit 1; }

cd "$out"
openssl verify -CAfile webhook-ca.crt -verify_hostname palisade-control.palisade.svc tls.crt
openssl verify -CAfile root-bundle.pem ca.crt

# A workload SVID as palisade-control would sign it with the intermediate.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth,clientAuth" \
  "subjectAltName=critical,URI:spiffe://cluster.local/ns/shop/sa/cart" \
  "authorityKeyIdentifier=keyid" >leaf.ext
openssl req -new -key leaf.key -subj "/O=Palisade" |
  openssl x509 -req -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" -days 1 \
    -sha256 -extfile leaf.ext -out leaf.crt 2>/dev/null
cat leaf.crt ca.crt >chain.pem
config() {  # BUNDLE
  cat <<YAML
identity:
  spiffe_id: spiffe://cluster.local/ns/shop/sa/cart
  files:
    certificate_chain_file: chain.pem
    private_key_file: leaf.key
    trust_bundles:
      - trust_domain: cluster.local
        file: $1
inbound:
  - name: in
    address: 127.0.0.1:15006
    forward_to: 127.0.0.1:8080
YAML
}
config root-bundle.pem >good.yaml
config webhook-ca.crt >bad.yaml
"$proxy" --config=good.yaml --validate
# Refused for the root, not for anything else that could make it exit non-zero.
if bad=$("$proxy" --config=bad.yaml --validate 2>&1); then
  echo "FAIL: the SVID verified under an unrelated root"
  exit 1
fi
grep -q "not valid under its trust bundle (untrusted_chain)" <<<"$bad" ||
  { echo "FAIL: bad.yaml refused for another reason: $bad"; exit 1; }
# Under --config=asan a sanitizer report would also make it exit non-zero.
if grep -qE "(ERROR|SUMMARY): [A-Za-z]*Sanitizer|runtime error:" <<<"$bad"; then
  echo "FAIL: palisade-proxy wrote a sanitizer report: $bad"
  exit 1
fi
echo "make_certs_test: ok"
