#include "runtime/net/pending_connections.h"

#include <algorithm>

namespace palisade::net {

PendingConnections::PendingConnections(Limits limits) : limits_(limits) {}

std::optional<PendingConnections::Id> PendingConnections::Admit(Id id,
                                                                const SocketAddress& source) {
  std::string key = source.HostString();
  std::optional<Id> evict;
  const size_t per_source_limit = std::max<size_t>(limits_.max_pending_per_source, 1);
  const size_t table_limit = std::max<size_t>(limits_.max_pending, 1);
  auto count = per_source_.find(key);
  if (count != per_source_.end() && count->second >= per_source_limit) {
    evict = OldestFrom(key);
  } else if (by_id_.size() >= table_limit && !queue_.empty()) {
    evict = queue_.front().id;
  }
  queue_.push_back(Entry{id, key});
  by_id_[id] = std::prev(queue_.end());
  ++per_source_[std::move(key)];
  return evict;
}

void PendingConnections::Finish(Id id) {
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return;
  auto count = per_source_.find(found->second->source);
  if (count != per_source_.end() && --count->second == 0) per_source_.erase(count);
  queue_.erase(found->second);
  by_id_.erase(found);
}

size_t PendingConnections::from(const SocketAddress& source) const {
  auto count = per_source_.find(source.HostString());
  return count == per_source_.end() ? 0 : count->second;
}

std::optional<PendingConnections::Id> PendingConnections::OldestFrom(
    const std::string& source) const {
  // Bounded by the table's size; only walked when a source is at its share.
  for (const Entry& entry : queue_) {
    if (entry.source == source) return entry.id;
  }
  return std::nullopt;
}

}  // namespace palisade::net
