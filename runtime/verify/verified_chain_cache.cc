#include "runtime/verify/verified_chain_cache.h"

#include <openssl/pool.h>
#include <openssl/sha.h>

namespace palisade::verify {

std::optional<VerifiedChainCache::Key> VerifiedChainCache::KeyFor(const SSL* ssl,
                                                                  identity::PeerRole role) {
  const STACK_OF(CRYPTO_BUFFER)* certs = SSL_get0_peer_certificates(ssl);
  if (certs == nullptr || sk_CRYPTO_BUFFER_num(certs) == 0) return std::nullopt;
  SHA256_CTX sha;
  SHA256_Init(&sha);
  const uint8_t role_byte = static_cast<uint8_t>(role);
  SHA256_Update(&sha, &role_byte, 1);
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(certs); ++i) {
    const CRYPTO_BUFFER* cert = sk_CRYPTO_BUFFER_value(certs, i);
    // Length-prefixed, so two chains never hash the same bytes.
    const uint64_t length = CRYPTO_BUFFER_len(cert);
    SHA256_Update(&sha, &length, sizeof(length));
    SHA256_Update(&sha, CRYPTO_BUFFER_data(cert), length);
  }
  Key key;
  SHA256_Final(key.data(), &sha);
  return key;
}

const VerifiedChainCache::Entry* VerifiedChainCache::Find(const Key& key,
                                                          uint64_t bundle_generation) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.bundle_generation != bundle_generation) return nullptr;
  return &it->second;
}

void VerifiedChainCache::Insert(const Key& key, Entry entry) {
  // Bounded memory without bookkeeping: start over when full. A flood of
  // distinct peers then costs what it would without a cache.
  if (entries_.size() >= capacity_) entries_.clear();
  entries_.insert_or_assign(key, std::move(entry));
}

}  // namespace palisade::verify
