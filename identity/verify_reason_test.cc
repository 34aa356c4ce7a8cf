#include "identity/verify_reason.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

namespace palisade {
namespace identity {
namespace {

TEST(VerifyReasonTest, CodesAreTheDocumentedLabelValues) {
  EXPECT_EQ(ReasonCode(VerifyReason::kOk), "ok");
  EXPECT_EQ(ReasonCode(VerifyReason::kNoCertificate), "no_certificate");
  EXPECT_EQ(ReasonCode(VerifyReason::kMalformedCertificate), "malformed_certificate");
  EXPECT_EQ(ReasonCode(VerifyReason::kUntrustedChain), "untrusted_chain");
  EXPECT_EQ(ReasonCode(VerifyReason::kExpired), "expired");
  EXPECT_EQ(ReasonCode(VerifyReason::kNotYetValid), "not_yet_valid");
  EXPECT_EQ(ReasonCode(VerifyReason::kBadSpiffeId), "bad_spiffe_id");
  EXPECT_EQ(ReasonCode(VerifyReason::kWrongTrustDomain), "wrong_trust_domain");
  EXPECT_EQ(ReasonCode(VerifyReason::kLeafIsCa), "leaf_is_ca");
  EXPECT_EQ(ReasonCode(VerifyReason::kBadKeyUsage), "bad_key_usage");
  EXPECT_EQ(ReasonCode(VerifyReason::kWeakKey), "weak_key");
  EXPECT_EQ(ReasonCode(VerifyReason::kWeakSignature), "weak_signature");
  EXPECT_EQ(ReasonCode(VerifyReason::kNotAuthorized), "not_authorized");
  EXPECT_EQ(ReasonCode(VerifyReason::kCertificateRevoked), "certificate_revoked");
  EXPECT_EQ(ReasonCode(VerifyReason::kCrlUnavailable), "crl_unavailable");
  EXPECT_EQ(ReasonCode(VerifyReason::kNoClientIdentity), "no_client_identity");
}

TEST(VerifyReasonTest, EveryReasonHasADistinctCode) {
  std::set<std::string> codes;
  for (VerifyReason reason : kAllVerifyReasons) codes.emplace(ReasonCode(reason));
  EXPECT_EQ(codes.size(), kAllVerifyReasons.size());
  EXPECT_EQ(codes.count("unknown"), 0u);
}

TEST(VerifyReasonTest, StreamsAsItsCode) {
  std::ostringstream os;
  os << VerifyReason::kLeafIsCa;
  EXPECT_EQ(os.str(), "leaf_is_ca");
}

}  // namespace
}  // namespace identity
}  // namespace palisade
