// Connections that have proved nothing yet: accepted, handshake not finished.
// A listener bounds them on their own, apart from its connection limit, so a
// flood of silent connections cannot hold every slot for a handshake window:
// when the table is full the oldest pending connection makes room for the
// new one (a real client finishes its handshake in milliseconds; a silent
// one is the oldest), and one source address may hold only its share, so it
// evicts its own connections rather than everyone else's. One thread.
#ifndef PALISADE_RUNTIME_NET_PENDING_CONNECTIONS_H_
#define PALISADE_RUNTIME_NET_PENDING_CONNECTIONS_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "runtime/net/socket_address.h"

namespace palisade::net {

class PendingConnections {
 public:
  using Id = uint64_t;
  struct Limits {
    size_t max_pending = 1024;           // in this table (one listener, one thread)
    size_t max_pending_per_source = 64;  // from one IP address
  };

  explicit PendingConnections(Limits limits);

  // Records `id` from `source` as pending. When that takes the source or the
  // table past its bound, returns the connection to close to make room: the
  // source's own oldest, else the table's oldest; the caller closes it, and
  // its close calls Finish. `id` itself is always admitted.
  std::optional<Id> Admit(Id id, const SocketAddress& source);
  // Its handshake finished (either way) or it closed. Unknown ids are fine.
  void Finish(Id id);

  size_t size() const { return by_id_.size(); }
  size_t from(const SocketAddress& source) const;
  const Limits& limits() const { return limits_; }

 private:
  struct Entry {
    Id id;
    std::string source;  // the IP address, no port
  };
  using Queue = std::list<Entry>;  // oldest first

  std::optional<Id> OldestFrom(const std::string& source) const;

  const Limits limits_;
  Queue queue_;
  absl::flat_hash_map<Id, Queue::iterator> by_id_;
  absl::flat_hash_map<std::string, size_t> per_source_;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_PENDING_CONNECTIONS_H_
