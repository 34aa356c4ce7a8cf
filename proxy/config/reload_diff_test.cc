#include "proxy/config/reload_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/status_matchers.h"

namespace palisade::config {
namespace {

using ::palisade::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

v1::ProxyConfig Config() {
  v1::ProxyConfig c;
  c.mutable_identity()->set_spiffe_id("spiffe://td/ns/a/sa/b");
  c.mutable_runtime()->set_workers(2);
  auto* in = c.add_inbound();
  in->set_name("in");
  in->set_address("127.0.0.1:0");
  in->set_forward_to("127.0.0.1:8080");
  auto* out = c.add_outbound();
  out->set_name("out");
  out->set_address("127.0.0.1:0");
  out->set_upstream("127.0.0.1:9000");
  return c;
}

TEST(ReloadDiffTest, SameFileChangesNothing) {
  const ListenerDiff diff = DiffListeners(Config(), Config());
  EXPECT_THAT(diff.added, IsEmpty());
  EXPECT_THAT(diff.removed, IsEmpty());
  EXPECT_THAT(diff.changed, IsEmpty());
  EXPECT_THAT(diff.unchanged, ElementsAre("in", "out"));
  EXPECT_OK(CheckRestartFields(Config(), Config()));
}

TEST(ReloadDiffTest, TellsAddedRemovedAndChangedListenersApart) {
  v1::ProxyConfig next = Config();
  next.mutable_inbound(0)->mutable_authorization()->add_spiffe_ids("spiffe://td/x");
  next.clear_outbound();
  auto* added = next.add_outbound();
  added->set_name("out2");
  const ListenerDiff diff = DiffListeners(Config(), next);
  EXPECT_THAT(diff.added, ElementsAre("out2"));
  EXPECT_THAT(diff.removed, ElementsAre("out"));
  EXPECT_THAT(diff.changed, ElementsAre("in"));
  EXPECT_THAT(diff.unchanged, IsEmpty());
  EXPECT_OK(CheckRestartFields(Config(), next)) << "listeners change at runtime";
}

TEST(ReloadDiffTest, AListenerThatChangedDirectionIsRemovedAndAdded) {
  v1::ProxyConfig next = Config();
  next.mutable_outbound(0)->set_name("in");
  next.clear_inbound();
  const ListenerDiff diff = DiffListeners(Config(), next);
  EXPECT_THAT(diff.added, ElementsAre("in"));
  EXPECT_THAT(diff.removed, ElementsAre("in", "out"));
}

TEST(ReloadDiffTest, AnythingElseNeedsARestartAndNamesTheField) {
  v1::ProxyConfig next = Config();
  next.mutable_runtime()->set_workers(3);
  EXPECT_THAT(CheckRestartFields(Config(), next),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("runtime.workers: requires a restart")));
  next = Config();
  next.mutable_identity()->mutable_files()->set_certificate_chain_file("a.pem");
  EXPECT_THAT(CheckRestartFields(Config(), next),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("identity.files:")));
  v1::ProxyConfig with_files = next;
  next.mutable_identity()->mutable_files()->set_certificate_chain_file("b.pem");
  EXPECT_EQ(FirstDifference(with_files, next), "identity.files.certificate_chain_file");
}

}  // namespace
}  // namespace palisade::config
