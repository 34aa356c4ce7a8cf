#include "runtime/verify/server_name_verifier.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "runtime/status/status_macros.h"
#include "runtime/verify/peer_chain.h"

namespace palisade::verify {
namespace {

bool IsIpLiteral(absl::string_view host) {
  const std::string text(host);
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, text.c_str(), &v4) == 1 || inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

absl::Status Refuse(absl::string_view host, absl::string_view why) {
  return absl::UnauthenticatedError(
      absl::StrCat("server certificate of ", host, " does not verify: ", why));
}

}  // namespace

absl::StatusOr<ServerRoots> ServerRoots::FromPem(absl::string_view pem) {
  absl::StatusOr<std::vector<bssl::UniquePtr<X509>>> certs = identity::ParsePemCertificates(pem);
  if (!certs.ok()) return absl::InvalidArgumentError(certs.status().message());
  if (certs->empty()) return absl::InvalidArgumentError("no certificate in the CA file");
  ServerRoots roots;
  roots.store_.reset(X509_STORE_new());
  if (!roots.store_) return absl::InternalError("X509_STORE_new failed");
  for (const bssl::UniquePtr<X509>& cert : *certs) {
    if (X509_check_ca(cert.get()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", roots.size_ + 1, " of the CA file is not a CA"));
    }
    if (!X509_STORE_add_cert(roots.store_.get(), cert.get())) {
      ERR_clear_error();  // a duplicate: harmless
      continue;
    }
    ++roots.size_;
  }
  return roots;
}

namespace {

// Verifies `ssl`'s peer chain under `roots` for TLS server use, with
// `configure` setting name checks on the parameters; `who` names the
// expected server in errors.
absl::Status VerifyChain(const SSL* ssl, const ServerRoots& roots, absl::string_view who,
                         absl::Time now, bssl::UniquePtr<X509>* leaf_out,
                         const std::function<bool(X509_VERIFY_PARAM*)>& configure) {
  const bssl::UniquePtr<STACK_OF(X509)> peer_chain = PeerChainOf(ssl);
  STACK_OF(X509)* chain = peer_chain.get();
  if (chain == nullptr || sk_X509_num(chain) == 0) return Refuse(who, "no certificate");
  X509* leaf = sk_X509_value(chain, 0);
  *leaf_out = bssl::UpRef(leaf);
  bssl::UniquePtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!untrusted || !ctx) return absl::InternalError("out of memory");
  for (size_t i = 1; i < sk_X509_num(chain); ++i) {
    if (!bssl::PushToStack(untrusted.get(), bssl::UpRef(sk_X509_value(chain, i)))) {
      return absl::InternalError("out of memory");
    }
  }
  if (!X509_STORE_CTX_init(ctx.get(), roots.store(), leaf, untrusted.get())) {
    ERR_clear_error();
    return absl::InternalError("X509_STORE_CTX_init failed");
  }
  // TLS server purpose: the leaf's EKU (if any) must allow serverAuth.
  X509_STORE_CTX_set_default(ctx.get(), "ssl_server");
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (!configure(X509_STORE_CTX_get0_param(ctx.get()))) {
    ERR_clear_error();
    return Refuse(who, "the host name cannot be checked");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Refuse(who, X509_verify_cert_error_string(error));
  }
  ERR_clear_error();
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyServerName(const SSL* ssl, const ServerRoots& roots, absl::string_view host,
                              absl::Time now) {
  const std::string name(host);
  bssl::UniquePtr<X509> leaf;
  return VerifyChain(ssl, roots, host, now, &leaf, [&](X509_VERIFY_PARAM* param) {
    return IsIpLiteral(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
                             : X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) == 1;
  });
}

absl::Status VerifyServerSpiffeId(const SSL* ssl, const ServerRoots& roots,
                                  absl::string_view spiffe_id, absl::Time now) {
  bssl::UniquePtr<X509> leaf;
  RETURN_IF_ERROR(
      VerifyChain(ssl, roots, spiffe_id, now, &leaf, [](X509_VERIFY_PARAM*) { return true; }));
  absl::StatusOr<identity::SpiffeId> id = identity::SpiffeIdOf(leaf.get());
  if (!id.ok()) return Refuse(spiffe_id, id.status().message());
  if (id->ToString() != spiffe_id) {
    return Refuse(spiffe_id, absl::StrCat("it is an SVID of ", id->ToString()));
  }
  return absl::OkStatus();
}

}  // namespace palisade::verify
