#include "runtime/tls/context_setup.h"

#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/x509.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/status/status_macros.h"
#include "runtime/tls/connection_hooks.h"
#include "runtime/tls/tls_error.h"

namespace palisade::tls {
namespace {

int VerifyMode(const ContextOptions& options) {
  if (options.role == Role::kClient) return SSL_VERIFY_PEER;
  switch (options.peer_certificates) {
    case PeerCertificates::kNotRequested:
      return SSL_VERIFY_NONE;
    case PeerCertificates::kOptional:
      return SSL_VERIFY_PEER;
    case PeerCertificates::kRequired:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
}

void SetUpResumption(SSL_CTX* ctx, const ContextOptions& options) {
  if (options.role == Role::kServer) {
    // Stateless tickets only: no server-side session cache to lock or grow.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (options.ticket_keys == nullptr) {
      SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(ctx, 0);
      return;
    }
    options.ticket_keys->InstallOn(ctx);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(
        ctx, static_cast<uint32_t>(absl::ToInt64Seconds(2 * options.ticket_keys->rotation())));
    return;
  }
  if (!options.client_sessions) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return;
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  InstallNewSessionTrampoline(ctx);
}

}  // namespace

absl::Status ApplyProtocolPolicy(SSL_CTX* ctx, uint16_t min_version, uint16_t max_version) {
  const uint16_t floor = std::max<uint16_t>(min_version, TLS1_2_VERSION);
  if (!SSL_CTX_set_min_proto_version(ctx, floor) ||
      !SSL_CTX_set_max_proto_version(ctx,
                                     std::clamp<uint16_t>(max_version, floor, TLS1_3_VERSION))) {
    return SslFailure("TLS versions");
  }
  if (!SSL_CTX_set1_curves_list(ctx, "X25519:P-256")) return SslFailure("TLS curves");
  return absl::OkStatus();
}

namespace {

// One pool for the process, never freed (it must outlive every SSL_CTX and
// session): connections whose peers present the same certificates, e.g. every
// resumed session from one client, share their bytes instead of a copy each.
CRYPTO_BUFFER_POOL* SharedCertificatePool() {
  static CRYPTO_BUFFER_POOL* const pool = CRYPTO_BUFFER_POOL_new();
  return pool;
}

}  // namespace

absl::Status UseCertificateChain(SSL_CTX* ctx, absl::Span<X509* const> chain, EVP_PKEY* key) {
  if (chain.empty()) return absl::InvalidArgumentError("empty certificate chain");
  if (key == nullptr) return absl::InvalidArgumentError("no private key for the certificate");
  if (!X509_check_private_key(chain[0], key)) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the leaf certificate");
  }
  // The context has no X509 layer (NewContext): the chain goes in as bytes.
  std::vector<bssl::UniquePtr<CRYPTO_BUFFER>> owned;
  std::vector<CRYPTO_BUFFER*> buffers;
  for (X509* cert : chain) {
    uint8_t* der = nullptr;
    const int length = i2d_X509(cert, &der);
    if (length <= 0) return SslFailure(buffers.empty() ? "leaf certificate" : "certificate chain");
    bssl::UniquePtr<uint8_t> der_owner(der);
    owned.emplace_back(
        CRYPTO_BUFFER_new(der, static_cast<size_t>(length), SharedCertificatePool()));
    if (owned.back() == nullptr) return SslFailure("certificate chain");
    buffers.push_back(owned.back().get());
  }
  if (!SSL_CTX_set_chain_and_key(ctx, buffers.data(), buffers.size(), key, nullptr)) {
    return SslFailure("certificate chain and private key");
  }
  return absl::OkStatus();
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewContext(const ContextOptions& options) {
  // Without BoringSSL's X509 layer: a connection keeps its peer's certificates
  // as (pooled) bytes instead of also a parsed X509 of each, about 5 KiB per
  // certificate per connection; runtime/verify/peer_chain.h parses on demand.
  // Peer verification is ours anyway (custom verify, never X509_STORE).
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_with_buffers_method()));
  if (ctx == nullptr) return SslFailure("SSL_CTX_new");
  SSL_CTX_set0_buffer_pool(ctx.get(), SharedCertificatePool());
  RETURN_IF_ERROR(ApplyProtocolPolicy(ctx.get(), options.min_version, options.max_version));
  const bool presents = !options.chain.empty() || options.key != nullptr;
  if (options.role == Role::kServer || presents) {
    RETURN_IF_ERROR(UseCertificateChain(ctx.get(), options.chain, options.key));
  }
  const int mode = VerifyMode(options);
  if (mode != SSL_VERIFY_NONE) InstallVerifyTrampoline(ctx.get(), mode);
  if (options.role == Role::kClient && !options.alpn.empty() &&
      SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const uint8_t*>(options.alpn.data()),
                              options.alpn.size()) != 0) {
    return SslFailure("ALPN protocols");
  }
  SetUpResumption(ctx.get(), options);
  return ctx;
}

}  // namespace palisade::tls
