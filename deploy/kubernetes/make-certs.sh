#!/bin/sh
# Makes, with openssl, the certificates a cluster install needs:
#   plug-in CA (Secret palisade-ca): root.crt/root.key (10 years, keep
#     root.key offline), ca.crt/ca.key (the signing intermediate, 1 year),
#     root-bundle.pem (the roots proxies trust)
#   webhook: webhook-ca.crt, tls.crt/tls.key for palisade-control.palisade.svc
# Existing files are kept, so a second run adds only what is missing; to
# rotate, move the old files away first (README, "Rotate the root").
#
#   make-certs.sh OUT_DIR [TRUST_DOMAIN]      (default cluster.local)
set -eu

[ $# -ge 1 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
out=$1
td=${2:-cluster.local}
service=palisade-control.palisade.svc
mkdir -p "$out"
cd "$out"
umask 077

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign CSR_SUBJECT KEY ISSUER_CRT ISSUER_KEY DAYS OUT EXTENSIONS...
sign() {
  subject=$1 key=$2 issuer=$3 issuer_key=$4 days=$5 crt=$6
  shift 6
  ext=$(mktemp)
  for e in "$@"; do echo "$e" >>"$ext"; done
  openssl req -new -key "$key" -subj "$subject" |
    openssl x509 -req -CA "$issuer" -CAkey "$issuer_key" -set_serial "0x$(openssl rand -hex 16)" \
      -days "$days" -sha256 -extfile "$ext" -out "$crt" 2>/dev/null
  rm -f "$ext"
}

if [ ! -f root.crt ]; then
  ec_key root.key
  openssl req -x509 -new -key root.key -sha256 -days 3650 -subj "/O=Palisade/CN=Palisade root $td" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectAltName=URI:spiffe://$td" -out root.crt
fi
if [ ! -f ca.crt ]; then
  ec_key ca.key
  sign "/O=Palisade/CN=Palisade intermediate $td" ca.key root.crt root.key 365 ca.crt \
    "basicConstraints=critical,CA:true,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectAltName=URI:spiffe://$td" "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid:always"
fi
[ -f root-bundle.pem ] || cp root.crt root-bundle.pem

if [ ! -f webhook-ca.crt ]; then
  ec_key webhook-ca.key
  openssl req -x509 -new -key webhook-ca.key -sha256 -days 3650 \
    -subj "/O=Palisade/CN=Palisade webhook CA" -addext "basicConstraints=critical,CA:true" \
    -addext "keyUsage=critical,keyCertSign" -out webhook-ca.crt
fi
if [ ! -f tls.crt ]; then
  ec_key tls.key
  sign "/O=Palisade/CN=$service" tls.key webhook-ca.crt webhook-ca.key 825 tls.crt \
    "basicConstraints=critical,CA:false" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:$service,DNS:$service.cluster.local"
fi
chmod 0644 ./*.crt root-bundle.pem
echo "make-certs: $(pwd): plug-in CA (ca.crt, ca.key, root-bundle.pem) and webhook (tls.crt, tls.key, webhook-ca.crt)" >&2
