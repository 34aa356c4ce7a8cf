#include "runtime/verify/peer_verifier.h"

#include <openssl/x509.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "runtime/verify/peer_chain.h"
#include "runtime/verify/verify_alert.h"

namespace palisade::verify {
namespace {

// The signature checks, skipped for a chain the cache vouches for whose
// certificates are all within their validity now.
PeerVerdict VerifyChain(const SSL* ssl, STACK_OF(X509) * stack, const PeerCheck& check) {
  const identity::VerifyOptions& options = check.verify;
  const std::optional<VerifiedChainCache::Key> key =
      check.cache != nullptr ? VerifiedChainCache::KeyFor(ssl, options.peer_role) : std::nullopt;
  if (key.has_value()) {
    const VerifiedChainCache::Entry* cached = check.cache->Find(*key, check.bundle_generation);
    if (cached != nullptr && options.now + options.clock_skew >= cached->valid_from &&
        options.now - options.clock_skew <= cached->svid.chain_not_after &&
        (options.expected_trust_domain.empty() ||
         cached->svid.spiffe_id.trust_domain() == options.expected_trust_domain)) {
      check.cache->CountHit();
      PeerVerdict verdict;
      verdict.svid = cached->svid;
      return verdict;
    }
  }
  // Not seen, or its validity window no longer holds: the full check, which
  // also names why it fails.
  std::vector<X509*> chain;
  absl::Time valid_from = absl::InfinitePast();
  for (size_t i = 0; i < sk_X509_num(stack); ++i) {
    chain.push_back(sk_X509_value(stack, i));
    valid_from = std::max(valid_from, identity::NotBefore(chain.back()));
  }
  identity::SvidVerification result = identity::VerifySvidChain(chain, *check.bundles, options);
  PeerVerdict verdict{result.reason, std::move(result.detail), std::move(result.svid)};
  if (verdict.ok() && key.has_value()) {
    check.cache->Insert(
        *key, VerifiedChainCache::Entry{*verdict.svid, valid_from, check.bundle_generation});
  }
  return verdict;
}

// A gateway's client: its own trust store and allow rules, no SPIFFE.
PeerVerdict VerifyGatewayClient(STACK_OF(X509) * stack, const PeerCheck& check) {
  std::vector<X509*> chain;
  for (size_t i = 0; i < sk_X509_num(stack); ++i) chain.push_back(sk_X509_value(stack, i));
  identity::ClientVerification result = check.gateway_trust->Verify(
      chain, {check.verify.now, check.verify.clock_skew, check.identity_from});
  PeerVerdict verdict{result.reason, std::move(result.detail), std::nullopt};
  verdict.client = std::move(result.client);
  if (!verdict.ok()) return verdict;
  if (check.gateway_policy == nullptr || !check.gateway_policy->Allows(*verdict.client)) {
    verdict.reason = identity::VerifyReason::kNotAuthorized;
    verdict.detail = absl::StrCat(verdict.client->identity, " (", verdict.client->subject,
                                  ") is not allowed by ",
                                  check.authorizer.empty() ? "the gateway" : check.authorizer);
  }
  return verdict;
}

}  // namespace

std::string PeerVerdict::PeerId() const {
  if (svid.has_value()) return svid->spiffe_id.ToString();
  if (client.has_value()) return client->identity;
  return "";
}

bool PeerAllowed(const identity::AuthorizationPolicy* policy,
                 absl::string_view default_trust_domain, const identity::SpiffeId& peer) {
  if (policy != nullptr) return policy->Allows(peer);
  return default_trust_domain.empty() || peer.trust_domain() == default_trust_domain;
}

PeerVerdict VerifyPeer(const SSL* ssl, const PeerCheck& check) {
  const bssl::UniquePtr<STACK_OF(X509)> chain = PeerChainOf(ssl);
  return VerifyPeer(ssl, chain.get(), check);
}

PeerVerdict VerifyPeer(const SSL* ssl, STACK_OF(X509) * stack, const PeerCheck& check) {
  if (stack == nullptr || sk_X509_num(stack) == 0) {
    // Certificates BoringSSL took as bytes but X509 cannot parse (say, an
    // intermediate) make a malformed chain, never an anonymous peer.
    if (const STACK_OF(CRYPTO_BUFFER)* sent = SSL_get0_peer_certificates(ssl);
        sent != nullptr && sk_CRYPTO_BUFFER_num(sent) > 0) {
      return PeerVerdict{identity::VerifyReason::kMalformedCertificate,
                         "the peer's certificate chain could not be parsed", std::nullopt};
    }
    if (check.certificate_optional) return PeerVerdict{};
    return PeerVerdict{identity::VerifyReason::kNoCertificate, "the peer presented no certificate",
                       std::nullopt};
  }
  if (check.gateway_trust != nullptr) return VerifyGatewayClient(stack, check);
  PeerVerdict verdict = VerifyChain(ssl, stack, check);
  if (!verdict.ok()) return verdict;
  const identity::SpiffeId& id = verdict.svid->spiffe_id;
  if (check.deny_list != nullptr && check.deny_list->Contains(id)) {
    verdict.reason = identity::VerifyReason::kRevoked;
    verdict.detail = absl::StrCat(id.ToString(), " is revoked (control-plane deny-list version ",
                                  check.deny_list->version(), ")");
    return verdict;
  }
  if (!PeerAllowed(check.policy, check.default_trust_domain, id)) {
    verdict.reason = identity::VerifyReason::kNotAuthorized;
    verdict.detail =
        check.authorizer.empty()
            ? absl::StrCat(id.ToString(), " is not authorized")
            : absl::StrCat(id.ToString(), " is not allowed by ", check.authorizer,
                           check.expected.empty() ? "" : ", expected ", check.expected);
  }
  return verdict;
}

ssl_verify_result_t ToVerifyResult(const PeerVerdict& verdict, uint8_t* out_alert) {
  if (verdict.ok()) return ssl_verify_ok;
  *out_alert = AlertFor(verdict.reason);
  return ssl_verify_invalid;
}

}  // namespace palisade::verify
