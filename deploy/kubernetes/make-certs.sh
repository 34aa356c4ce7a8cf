#!/bin/sh
# Makes, locally, what a cluster install needs besides the manifests:
#   ca-kek (Secret palisade-ca-kek, key kek): the key-encryption key that
#     seals the self-managed CA's private keys in etcd; 32 random bytes,
#     base64, mode 0400; never printed. Keep a copy offline: without it the
#     CA in etcd cannot be opened.
#   webhook: webhook-ca.crt, tls.crt/tls.key for palisade-control.palisade.svc
# Existing files are kept, so a second run adds only what is missing (a new
# KEK would not open the CA already sealed in etcd).
#
#   make-certs.sh OUT_DIR
set -eu

[ $# -eq 1 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
out=$1
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

if [ ! -f ca-kek ]; then
  # Written under a temporary name, then renamed: never a partial key.
  openssl rand -base64 32 >ca-kek.tmp
  chmod 0400 ca-kek.tmp
  mv ca-kek.tmp ca-kek
fi

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
chmod 0644 ./*.crt
echo "make-certs: $(pwd): CA key-encryption key (ca-kek) and webhook (tls.crt, tls.key, webhook-ca.crt)" >&2
