// The peer's certificate chain, parsed on demand. TLS contexts are built
// without BoringSSL's X509 layer (TLS_with_buffers_method), so a connection
// keeps only the certificates' bytes (shared through one pool), not a parsed
// X509 per certificate, several KiB each, for as long as it lives: whoever
// needs to look into the chain (verification, re-checks, caller identity)
// parses it here, and frees it when done.
#ifndef PALISADE_RUNTIME_VERIFY_PEER_CHAIN_H_
#define PALISADE_RUNTIME_VERIFY_PEER_CHAIN_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace palisade::verify {

// The chain the peer presented (or its resumed session recorded), leaf
// first; null when there is none. A certificate BoringSSL accepted but X509
// cannot parse also yields null: callers treat it as no chain at all.
bssl::UniquePtr<STACK_OF(X509)> PeerChainOf(const SSL* ssl);

// Its leaf alone, or null.
bssl::UniquePtr<X509> PeerLeafOf(const SSL* ssl);

}  // namespace palisade::verify

#endif  // PALISADE_RUNTIME_VERIFY_PEER_CHAIN_H_
