#include "control/service/peer_table.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace palisade::control::service {

std::string PeerTable::KeyFor(const net::SocketAddress& forwarder_local) {
  if (forwarder_local.family() == AF_INET6) {
    return absl::StrCat("ipv6:[", forwarder_local.HostString(), "]:", forwarder_local.port());
  }
  return absl::StrCat("ipv4:", forwarder_local.HostString(), ":", forwarder_local.port());
}

void PeerTable::Add(const std::string& key, PeerIdentity peer) {
  sync::MutexLock lock(&mu_);
  peers_[key] = std::move(peer);
}

void PeerTable::Remove(const std::string& key) {
  sync::MutexLock lock(&mu_);
  peers_.erase(key);
}

std::optional<PeerIdentity> PeerTable::Lookup(absl::string_view grpc_peer) const {
  sync::MutexLock lock(&mu_);
  auto it = peers_.find(grpc_peer);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

size_t PeerTable::size() const {
  sync::MutexLock lock(&mu_);
  return peers_.size();
}

}  // namespace palisade::control::service
