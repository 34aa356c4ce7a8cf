#include "runtime/tls/context_setup.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/tls/tls_error.h"

namespace palisade::tls {
namespace {

absl::Status SslFailure(absl::string_view what) {
  std::string detail;
  DrainErrorQueue(&detail);
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", detail));
}

}  // namespace

absl::Status ApplyProtocolPolicy(SSL_CTX* ctx, uint16_t min_version) {
  if (!SSL_CTX_set_min_proto_version(ctx, std::max<uint16_t>(min_version, TLS1_2_VERSION)) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
    return SslFailure("TLS versions");
  }
  if (!SSL_CTX_set1_curves_list(ctx, "X25519:P-256")) return SslFailure("TLS curves");
  return absl::OkStatus();
}

absl::Status UseCertificateChain(SSL_CTX* ctx, absl::Span<X509* const> chain, EVP_PKEY* key) {
  if (chain.empty()) return absl::InvalidArgumentError("empty certificate chain");
  if (key == nullptr) return absl::InvalidArgumentError("no private key for the certificate");
  if (!X509_check_private_key(chain[0], key)) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not match the leaf certificate");
  }
  if (!SSL_CTX_use_certificate(ctx, chain[0])) return SslFailure("leaf certificate");
  for (size_t i = 1; i < chain.size(); ++i) {
    if (!SSL_CTX_add1_chain_cert(ctx, chain[i])) return SslFailure("certificate chain");
  }
  if (!SSL_CTX_use_PrivateKey(ctx, key)) return SslFailure("private key");
  return absl::OkStatus();
}

}  // namespace palisade::tls
