#!/bin/sh
# Transparent capture for a pod (or a host): nat-table REDIRECT rules that send
# incoming TCP to the proxy's inbound capture port and outgoing TCP to its
# outbound capture port, leaving alone the proxy's own traffic (by uid and/or
# SO_MARK), loopback, and excluded ports and networks. Run as the init step
# (needs NET_ADMIN). Idempotent: install replaces our rules; remove deletes them.
#
#   palisade-iptables.sh install [--inbound-port 15006] [--outbound-port 15001]
#       [--proxy-uid UID] [--proxy-mark MARK] [--exclude-inbound-ports P,P]
#       [--exclude-outbound-ports P,P] [--exclude-outbound-cidrs C,C] [--ipv6]
#   palisade-iptables.sh remove [--ipv6]
set -eu

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "palisade-iptables: $*" >&2; exit 2; }

[ $# -ge 1 ] || usage
action=$1; shift
inbound_port=15006
outbound_port=15001
proxy_uid=""
proxy_mark=""
exclude_in=""
exclude_out=""
exclude_cidrs=""
ipv6=0
while [ $# -gt 0 ]; do
  case "$1" in
    --inbound-port) inbound_port=${2:?}; shift 2 ;;
    --outbound-port) outbound_port=${2:?}; shift 2 ;;
    --proxy-uid) proxy_uid=${2:?}; shift 2 ;;
    --proxy-mark) proxy_mark=${2:?}; shift 2 ;;
    --exclude-inbound-ports) exclude_in=${2-}; shift 2 ;;
    --exclude-outbound-ports) exclude_out=${2-}; shift 2 ;;
    --exclude-outbound-cidrs) exclude_cidrs=${2-}; shift 2 ;;
    --ipv6) ipv6=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

is_port() { case "$1" in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
for p in "$inbound_port" "$outbound_port"; do is_port "$p" || die "port '$p' is not 1-65535"; done
for p in $(echo "$exclude_in,$exclude_out" | tr ',' ' '); do
  is_port "$p" || die "excluded port '$p' is not 1-65535"
done
[ -z "$proxy_uid" ] || case "$proxy_uid" in *[!0-9]*) die "--proxy-uid must be numeric" ;; esac
[ -z "$proxy_mark" ] || case "$proxy_mark" in *[!0-9]*) die "--proxy-mark must be numeric" ;; esac
if [ "$action" = install ] && [ -z "$proxy_uid" ] && [ -z "$proxy_mark" ]; then
  die "give --proxy-uid and/or --proxy-mark, or the proxy's own connections would loop"
fi

# ensure_jump TOOL CHAIN TARGET: one jump from a built-in chain to ours.
ensure_jump() { $1 -t nat -C "$2" -p tcp -j "$3" 2>/dev/null || $1 -t nat -A "$2" -p tcp -j "$3"; }
remove_jumps() { while $1 -t nat -D "$2" -p tcp -j "$3" 2>/dev/null; do :; done; }

install_rules() {
  tool=$1; loopback=$2
  for chain in PALISADE_INBOUND PALISADE_OUTPUT; do
    $tool -t nat -N $chain 2>/dev/null || true
    $tool -t nat -F $chain
  done
  for p in $(echo "$exclude_in" | tr ',' ' '); do
    $tool -t nat -A PALISADE_INBOUND -p tcp --dport "$p" -j RETURN
  done
  $tool -t nat -A PALISADE_INBOUND -p tcp -j REDIRECT --to-ports "$inbound_port"

  [ -z "$proxy_uid" ] || $tool -t nat -A PALISADE_OUTPUT -m owner --uid-owner "$proxy_uid" -j RETURN
  [ -z "$proxy_mark" ] || $tool -t nat -A PALISADE_OUTPUT -m mark --mark "$proxy_mark" -j RETURN
  $tool -t nat -A PALISADE_OUTPUT -o lo -j RETURN
  $tool -t nat -A PALISADE_OUTPUT -d "$loopback" -j RETURN
  for p in $(echo "$exclude_out" | tr ',' ' '); do
    $tool -t nat -A PALISADE_OUTPUT -p tcp --dport "$p" -j RETURN
  done
  for c in $(echo "$exclude_cidrs" | tr ',' ' '); do
    case "$c" in
      *:*) [ "$tool" = ip6tables ] || continue ;;
      *) [ "$tool" = iptables ] || continue ;;
    esac
    $tool -t nat -A PALISADE_OUTPUT -d "$c" -j RETURN
  done
  $tool -t nat -A PALISADE_OUTPUT -p tcp -j REDIRECT --to-ports "$outbound_port"

  ensure_jump "$tool" PREROUTING PALISADE_INBOUND
  ensure_jump "$tool" OUTPUT PALISADE_OUTPUT
}

remove_rules() {
  tool=$1
  remove_jumps "$tool" PREROUTING PALISADE_INBOUND
  remove_jumps "$tool" OUTPUT PALISADE_OUTPUT
  for chain in PALISADE_INBOUND PALISADE_OUTPUT; do
    $tool -t nat -F $chain 2>/dev/null || true
    $tool -t nat -X $chain 2>/dev/null || true
  done
}

case "$action" in
  install)
    install_rules iptables 127.0.0.0/8
    [ "$ipv6" -eq 0 ] || install_rules ip6tables ::1/128
    ;;
  remove)
    remove_rules iptables
    [ "$ipv6" -eq 0 ] || remove_rules ip6tables
    ;;
  *) die "unknown action '$action': install or remove" ;;
esac
