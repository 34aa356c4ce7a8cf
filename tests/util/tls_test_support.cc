#include "tests/util/tls_test_support.h"

#include <sys/socket.h>

#include <cstdlib>
#include <iostream>

namespace palisade::testing {
namespace {

bssl::UniquePtr<SSL_CTX> OrDie(absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx) {
  if (!ctx.ok()) {
    std::cerr << "test TLS context: " << ctx.status() << "\n";
    std::abort();
  }
  return *std::move(ctx);
}

}  // namespace

identity::TrustBundleSet BundleOf(const TestPki& pki) {
  identity::TrustBundleSet::Builder builder;
  if (!builder.Add(pki.trust_domain(), pki.root().cert.get()).ok()) std::abort();
  return builder.Build();
}

identity::TrustBundleSet BundleOf(const TestPki& a, const TestPki& b) {
  identity::TrustBundleSet::Builder builder;
  if (!builder.Add(a.trust_domain(), a.root().cert.get()).ok() ||
      !builder.Add(b.trust_domain(), b.root().cert.get()).ok()) {
    std::abort();
  }
  return builder.Build();
}

bssl::UniquePtr<SSL_CTX> ServerContext(const TestPki& pki, const Credential& leaf,
                                       tls::PeerCertificates clients) {
  tls::ContextOptions options;
  options.role = tls::Role::kServer;
  options.chain = pki.Chain(leaf);
  options.key = leaf.key.get();
  options.peer_certificates = clients;
  return OrDie(tls::NewContext(options));
}

bssl::UniquePtr<SSL_CTX> ClientContext(const TestPki& pki, const Credential* leaf) {
  tls::ContextOptions options;
  options.role = tls::Role::kClient;
  if (leaf != nullptr) {
    options.chain = pki.Chain(*leaf);
    options.key = leaf->key.get();
  }
  return OrDie(tls::NewContext(options));
}

std::pair<net::UniqueFd, net::UniqueFd> SocketPair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  return {net::UniqueFd(fds[0]), net::UniqueFd(fds[1])};
}

bool HandshakeBoth(tls::TlsTransport& client, tls::TlsTransport& server) {
  bool client_done = false, server_done = false;
  for (int i = 0; i < 100 && !(client_done && server_done); ++i) {
    if (!client_done) {
      const net::IoResult r = client.Handshake();
      if (r.status == net::IoStatus::kError) return false;
      client_done = r.status == net::IoStatus::kOk;
    }
    if (!server_done) {
      const net::IoResult r = server.Handshake();
      if (r.status == net::IoStatus::kError) return false;
      server_done = r.status == net::IoStatus::kOk;
    }
  }
  return client_done && server_done;
}

}  // namespace palisade::testing
