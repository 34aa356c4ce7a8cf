// The SPIFFE IDs the control plane revoked, as the identity stream delivers
// them: a peer whose ID is listed is refused at the handshake and its live
// connections are closed. Immutable once built; shared across threads as
// shared_ptr<const DenyList>.
#ifndef PALISADE_IDENTITY_DENY_LIST_H_
#define PALISADE_IDENTITY_DENY_LIST_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "identity/spiffe_id.h"

namespace palisade::identity {

class DenyList {
 public:
  // SPIFFE ID (as text) -> when the last certificate issued to it expires.
  using Entries = absl::flat_hash_map<std::string, absl::Time>;

  DenyList() = default;
  DenyList(uint64_t version, Entries entries) : version_(version), entries_(std::move(entries)) {}

  // Listed until the control plane drops the entry (after its expiry): a
  // certificate issued to `id` before the revocation is refused even if this
  // proxy's clock runs behind.
  bool Contains(const SpiffeId& id) const { return entries_.contains(id.ToString()); }

  uint64_t version() const { return version_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const Entries& entries() const { return entries_; }

 private:
  uint64_t version_ = 0;
  Entries entries_;
};

}  // namespace palisade::identity

#endif  // PALISADE_IDENTITY_DENY_LIST_H_
