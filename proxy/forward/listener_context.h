// What a connection needs to know about the listener that accepted it;
// built from the config and shared, read-only, by every worker. A reload
// that changes the listener builds a new one; the old one lives on for the
// connections it accepted (and is never freed: see ProxyServer::Reload).
#ifndef PALISADE_PROXY_FORWARD_LISTENER_CONTEXT_H_
#define PALISADE_PROXY_FORWARD_LISTENER_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "identity/authz_policy.h"
#include "identity/gateway_policy.h"
#include "identity/gateway_trust.h"
#include "runtime/net/address_pattern.h"
#include "runtime/net/socket_address.h"

namespace palisade::forward {

enum class Direction { kInbound, kOutbound };

inline const char* DirectionName(Direction d) {
  return d == Direction::kInbound ? "inbound" : "outbound";
}

// Who the upstream must be, and how to say it in logs.
struct PeerExpectation {
  identity::AuthorizationPolicy policy;
  std::string description;
};

// An inbound listener's authorization after a reload (SIGHUP): nullopt policy
// means peers of this proxy's own trust domain, as when none is configured.
struct ListenerPolicy {
  std::optional<identity::AuthorizationPolicy> policy;
  std::string description;
};

// Transparent capture: the expected peer by original destination.
struct DestinationRule {
  net::AddressPattern address;
  PeerExpectation expected;
};

// How the app behind an inbound listener learns the caller (config.proto
// CallerIdentity); kOff costs a listener nothing.
enum class CallerIdentityMode { kOff, kProxyProtocol, kHttpHeader };

struct CallerIdentityOptions {
  CallerIdentityMode mode = CallerIdentityMode::kOff;
  std::string header_name;  // http_header: as configured (matched case-insensitively)
  size_t max_header_bytes = 65536;
};

// A gateway listener (clients outside the mesh): how clients are named and
// admitted. Its trust store is reloaded apart (ConnectionHost::GatewayTrust).
struct GatewayContext {
  identity::IdentityFrom identity_from = identity::IdentityFrom::kDnsSan;
  identity::GatewayPolicy policy;
  // The trust store loaded at start; workers are handed reloads.
  std::shared_ptr<const identity::GatewayTrust> trust;
};

struct ListenerContext {
  std::string name;
  std::string label;  // "listener <name>", as refusals name it
  Direction direction = Direction::kInbound;
  net::SocketAddress address;  // as configured; port 0 is resolved at bind
  // Inbound: the local app. Outbound: the upstream proxy (may need DNS).
  net::SocketAddress forward_to;
  net::HostPort upstream;
  // The upstream when it is an IP literal (no lookup per connection), and
  // the key of its TLS sessions in a worker's cache.
  std::optional<net::SocketAddress> upstream_address;
  std::string session_key;
  // Inbound: who may connect (absent: peers of our own trust domain).
  // Outbound: who the upstream must be.
  std::optional<identity::AuthorizationPolicy> policy;
  std::string policy_description;  // for logs: "spiffe://td/ns/a/sa/b", ...
  // Transparent capture (SO_ORIGINAL_DST). Inbound: forward to forward_to's
  // IP on the original port. Outbound: connect to the original destination;
  // the first matching rule names the expected peer, else `policy`.
  bool original_destination = false;
  std::vector<DestinationRule> destinations;
  // Set on a gateway listener: clients are judged by it, not by `policy`.
  std::optional<GatewayContext> gateway;
  // Inbound: the lowest TLS version accepted (0: the proxy's tls.min_version).
  uint16_t min_tls_version = 0;
  // SO_MARK on connections this listener opens (0: none).
  uint32_t socket_mark = 0;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration idle_timeout = absl::Hours(1);
  absl::Duration startup_hold = absl::Seconds(15);
  // Established connections (inbound: the peer's handshake is done;
  // outbound: the upstream's), across all workers. Connections still in their
  // handshake are bounded apart, by the two below, so that silent ones
  // cannot hold every slot: see net::PendingConnections.
  uint32_t max_connections = 10000;
  uint32_t max_pending_handshakes = 4096;
  uint32_t max_pending_handshakes_per_source = 2048;
  size_t high_water_bytes = 256 * 1024;
  CallerIdentityOptions caller_identity;

  // The listener's first context when a reload replaced it (nullptr: this is
  // the first): a reloaded authorization applies to the connections of every
  // context the listener had.
  const ListenerContext* origin = nullptr;
  const ListenerContext& Origin() const { return origin != nullptr ? *origin : *this; }

  // Established connections now, across all workers, for max_connections.
  // Shared with the contexts a reload builds for this listener, so that the
  // limit counts the connections accepted before the change too.
  std::shared_ptr<std::atomic<uint32_t>> active = std::make_shared<std::atomic<uint32_t>>(0);
};

}  // namespace palisade::forward

#endif  // PALISADE_PROXY_FORWARD_LISTENER_CONTEXT_H_
