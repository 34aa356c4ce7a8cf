#include "runtime/verify/peer_chain.h"

#include <openssl/err.h>
#include <openssl/pool.h>

namespace palisade::verify {

bssl::UniquePtr<STACK_OF(X509)> PeerChainOf(const SSL* ssl) {
  const STACK_OF(CRYPTO_BUFFER)* certs = SSL_get0_peer_certificates(ssl);
  if (certs == nullptr || sk_CRYPTO_BUFFER_num(certs) == 0) return nullptr;
  bssl::UniquePtr<STACK_OF(X509)> chain(sk_X509_new_null());
  if (chain == nullptr) return nullptr;
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(certs); ++i) {
    bssl::UniquePtr<X509> cert(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certs, i)));
    if (cert == nullptr || !bssl::PushToStack(chain.get(), std::move(cert))) {
      ERR_clear_error();
      return nullptr;
    }
  }
  return chain;
}

bssl::UniquePtr<X509> PeerLeafOf(const SSL* ssl) {
  const STACK_OF(CRYPTO_BUFFER)* certs = SSL_get0_peer_certificates(ssl);
  if (certs == nullptr || sk_CRYPTO_BUFFER_num(certs) == 0) return nullptr;
  bssl::UniquePtr<X509> leaf(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(certs, 0)));
  if (leaf == nullptr) ERR_clear_error();
  return leaf;
}

}  // namespace palisade::verify
