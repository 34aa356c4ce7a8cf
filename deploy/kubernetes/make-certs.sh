#!/bin/sh
# Makes, locally, what a cluster install needs besides the manifests:
#   ca-kek (Secret palisade-ca-kek, key kek): the key-encryption key that
#     seals the self-managed CA's private keys in etcd; 32 random bytes,
#     base64, mode 0400; never printed. Keep a copy offline: without it the
#     CA in etcd cannot be opened.
#   webhook: webhook-ca.crt, tls.crt/tls.key for palisade-control.palisade.svc
#   etcd (mutual TLS for clients and peers, ECDSA P-256; one folder per
#     Secret, `kubectl create secret generic NAME --from-file=FOLDER`):
#     palisade-etcd-tls/: ca.crt and palisade-etcd-N.crt/.key, one per
#       member (server and peer; palisade-etcd-N.palisade-etcd.palisade.svc,
#       the Service, 127.0.0.1);
#     palisade-etcd-client-tls/: ca.crt, tls.crt/tls.key for palisade-control.
#     Their CA, etcd-ca.crt/etcd-ca.key, stays here like webhook-ca.key.
# Existing files are kept, so a second run adds only what is missing (a new
# KEK would not open the CA already sealed in etcd). Keys are 0400.
#
#   make-certs.sh OUT_DIR
set -eu

[ $# -eq 1 ] || { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
out=$1
service=palisade-control.palisade.svc
etcd_service=palisade-etcd.palisade.svc
mkdir -p "$out"
cd "$out"
umask 077

# A key left 0400 by an interrupted run is replaced, not written through.
ec_key() { rm -f "$1"; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

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

# etcd's own CA: it signs only etcd's members and palisade-control's client
# certificate, so no other certificate (the webhook's, the mesh's) opens etcd.
if [ ! -f etcd-ca.crt ]; then
  ec_key etcd-ca.key
  openssl req -x509 -new -key etcd-ca.key -sha256 -days 3650 \
    -subj "/O=Palisade/CN=Palisade etcd CA" -addext "basicConstraints=critical,CA:true" \
    -addext "keyUsage=critical,keyCertSign" -out etcd-ca.crt
fi
mkdir -p palisade-etcd-tls palisade-etcd-client-tls
cp etcd-ca.crt palisade-etcd-tls/ca.crt
cp etcd-ca.crt palisade-etcd-client-tls/ca.crt
# One certificate per member (the StatefulSet picks its own by pod name):
# serverAuth for clients and peers, clientAuth when it dials its peers.
# 127.0.0.1: etcd's own gateway dials the member on loopback.
for n in 0 1 2; do
  member=palisade-etcd-$n
  [ -f "palisade-etcd-tls/$member.crt" ] && continue
  ec_key "palisade-etcd-tls/$member.key"
  sign "/O=Palisade/CN=$member" "palisade-etcd-tls/$member.key" etcd-ca.crt etcd-ca.key 825 \
    "palisade-etcd-tls/$member.crt" "basicConstraints=critical,CA:false" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:$member.$etcd_service,DNS:$member.$etcd_service.cluster.local,DNS:$etcd_service,DNS:$etcd_service.cluster.local,IP:127.0.0.1"
done
if [ ! -f palisade-etcd-client-tls/tls.crt ]; then
  ec_key palisade-etcd-client-tls/tls.key
  sign "/O=Palisade/CN=palisade-control" palisade-etcd-client-tls/tls.key etcd-ca.crt etcd-ca.key \
    825 palisade-etcd-client-tls/tls.crt "basicConstraints=critical,CA:false" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth"
fi
chmod 0644 ./*.crt ./*/*.crt
chmod 0400 ./*.key ./*/*.key
echo "make-certs: $(pwd): CA key-encryption key (ca-kek), webhook (tls.crt, tls.key, webhook-ca.crt)," \
  "etcd (palisade-etcd-tls/, palisade-etcd-client-tls/, etcd-ca.crt)" >&2
