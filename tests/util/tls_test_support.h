// In-process TLS for unit tests: contexts and bundles from the test PKI, a
// connected pair of non-blocking sockets, and a handshake driven to its end
// without an event loop.
#ifndef PALISADE_TESTS_UTIL_TLS_TEST_SUPPORT_H_
#define PALISADE_TESTS_UTIL_TLS_TEST_SUPPORT_H_

#include <openssl/ssl.h>

#include <utility>

#include "identity/trust_bundle.h"
#include "runtime/net/unique_fd.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_transport.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {

// `pki`'s root as the bundle of its trust domain.
identity::TrustBundleSet BundleOf(const TestPki& pki);
// Both roots, each under its own trust domain.
identity::TrustBundleSet BundleOf(const TestPki& a, const TestPki& b);

// A server context presenting `leaf` (and its chain from `pki`).
bssl::UniquePtr<SSL_CTX> ServerContext(const TestPki& pki, const Credential& leaf,
                                       tls::PeerCertificates clients);
// A client context presenting `leaf`, or nothing when it is null.
bssl::UniquePtr<SSL_CTX> ClientContext(const TestPki& pki, const Credential* leaf);

// A connected pair of non-blocking stream sockets.
std::pair<net::UniqueFd, net::UniqueFd> SocketPair();

// Drives both handshakes until each finished or failed (bounded); true when
// both finished.
bool HandshakeBoth(tls::TlsTransport& client, tls::TlsTransport& server);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_UTIL_TLS_TEST_SUPPORT_H_
