#include "runtime/tls/context_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/util/status_matchers.h"
#include "tests/util/test_pki.h"

namespace palisade::tls {
namespace {

using ::palisade::testing::Credential;
using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::palisade::testing::TestPki;
using ::testing::HasSubstr;

bssl::UniquePtr<SSL_CTX> NewContext() {
  return bssl::UniquePtr<SSL_CTX>(SSL_CTX_new(TLS_method()));
}

TEST(ApplyProtocolPolicyTest, KeepsTls12AsTheFloorAndTls13AsTheCeiling) {
  bssl::UniquePtr<SSL_CTX> ctx = NewContext();
  EXPECT_THAT(ApplyProtocolPolicy(ctx.get(), TLS1_VERSION), IsOk());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_3_VERSION);
  EXPECT_THAT(ApplyProtocolPolicy(ctx.get(), TLS1_3_VERSION), IsOk());
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_3_VERSION);
}

TEST(UseCertificateChainTest, PresentsTheLeafAndItsIntermediates) {
  TestPki pki;
  const Credential leaf = pki.IssueLeaf("/ns/shop/sa/cart");
  bssl::UniquePtr<SSL_CTX> ctx = NewContext();
  EXPECT_THAT(UseCertificateChain(ctx.get(), pki.Chain(leaf), leaf.key.get()), IsOk());
  EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(ctx.get()), leaf.cert.get()), 0);
  STACK_OF(X509)* extra = nullptr;
  ASSERT_TRUE(SSL_CTX_get0_chain_certs(ctx.get(), &extra));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(sk_X509_num(extra), pki.Chain(leaf).size() - 1);
}

TEST(UseCertificateChainTest, RefusesAKeyThatIsNotTheLeafsAndAnEmptyChain) {
  TestPki pki;
  const Credential leaf = pki.IssueLeaf("/ns/shop/sa/cart");
  const Credential other = pki.IssueLeaf("/ns/shop/sa/other");
  bssl::UniquePtr<SSL_CTX> ctx = NewContext();
  EXPECT_THAT(UseCertificateChain(ctx.get(), pki.Chain(leaf), other.key.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("private key does not match the leaf")));
  EXPECT_EQ(SSL_CTX_get0_certificate(ctx.get()), nullptr);  // nothing half-installed
  EXPECT_THAT(UseCertificateChain(ctx.get(), {}, leaf.key.get()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty certificate chain")));
  EXPECT_THAT(UseCertificateChain(ctx.get(), pki.Chain(leaf), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no private key")));
}

}  // namespace
}  // namespace palisade::tls
