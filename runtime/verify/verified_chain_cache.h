// Peer chains this worker has already verified, so a peer that reconnects
// (or resumes) does not cost two more signature checks. Keyed by the exact
// DER bytes of the chain the peer sent and the role it played; an entry is
// only used under the bundle it was verified with, and the caller still
// checks validity times and authorization every time. Proof that the peer
// holds the leaf's key is BoringSSL's own CertificateVerify check, which
// caching cannot skip.
#ifndef PALISADE_RUNTIME_VERIFY_VERIFIED_CHAIN_CACHE_H_
#define PALISADE_RUNTIME_VERIFY_VERIFIED_CHAIN_CACHE_H_

#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "identity/svid_verifier.h"

namespace palisade::verify {

// One per worker; loop thread only.
class VerifiedChainCache {
 public:
  using Key = std::array<uint8_t, 32>;
  struct Entry {
    identity::VerifiedSvid svid;
    absl::Time valid_from;  // the latest notBefore among the certificates sent
    uint64_t bundle_generation = 0;
  };

  explicit VerifiedChainCache(size_t capacity = 4096) : capacity_(capacity) {}

  // SHA-256 over the role and every certificate the peer sent, in order.
  static std::optional<Key> KeyFor(const SSL* ssl, identity::PeerRole role);

  const Entry* Find(const Key& key, uint64_t bundle_generation) const;
  void Insert(const Key& key, Entry entry);
  size_t size() const { return entries_.size(); }
  // Find() results the caller used in place of a full check.
  void CountHit() { ++hits_; }
  uint64_t hits() const { return hits_; }

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const {
      size_t h;
      static_assert(sizeof(h) <= sizeof(Key));
      std::memcpy(&h, k.data(), sizeof(h));  // already a cryptographic hash
      return h;
    }
  };
  const size_t capacity_;
  absl::flat_hash_map<Key, Entry, KeyHash> entries_;
  uint64_t hits_ = 0;
};

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_VERIFIED_CHAIN_CACHE_H_
