// Which verified peer stands behind each connection the identity port opens
// to the in-process gRPC server, keyed by the forwarder's source address as
// gRPC reports it in ServerContext::peer() ("ipv4:127.0.0.1:PORT"). A key
// that is not in the table was not made by the identity port: not authenticated.
#ifndef PALISADE_CONTROL_SERVICE_PEER_TABLE_H_
#define PALISADE_CONTROL_SERVICE_PEER_TABLE_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"
#include "runtime/net/socket_address.h"
#include "runtime/sync/mutex.h"

namespace palisade::control::service {

struct PeerIdentity {
  // Set when the client presented an X.509-SVID that verified.
  std::optional<identity::SpiffeId> spiffe_id;
  std::string serial;
  std::string root_fingerprint;
  absl::Time not_after = absl::InfinitePast();
  std::string remote_address;  // the proxy's own address, for logs
};

// Thread-safe.
class PeerTable {
 public:
  // "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" for a forwarder's local address.
  static std::string KeyFor(const net::SocketAddress& forwarder_local);

  void Add(const std::string& key, PeerIdentity peer);
  void Remove(const std::string& key);
  // Exact match of `grpc_peer` (ServerContext::peer()).
  std::optional<PeerIdentity> Lookup(absl::string_view grpc_peer) const;
  size_t size() const;

 private:
  mutable sync::Mutex mu_;
  absl::flat_hash_map<std::string, PeerIdentity> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_PEER_TABLE_H_
