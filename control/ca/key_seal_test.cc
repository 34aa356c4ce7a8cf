#include "control/ca/key_seal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/escaping.h"
#include "tests/util/status_matchers.h"

namespace palisade::control::ca {
namespace {

using ::testing::HasSubstr;

const std::string kKek(32, '\x42');
const std::string kBinding =
    SealBinding("/palisade/example.org/ca/state", "example.org", 1, "root");

std::string TempFile(const std::string& name, const std::string& contents, mode_t mode) {
  const std::string path = std::string(::testing::TempDir()) + "/" + name;
  ::unlink(path.c_str());
  std::ofstream(path, std::ios::binary) << contents;
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(KeySealTest, RoundTrip) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, Seal(kKek, kBinding, "secret key pem"));
  EXPECT_EQ(sealed.find("secret key pem"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string opened, Unseal(kKek, kBinding, sealed));
  EXPECT_EQ(opened, "secret key pem");
  // A fresh nonce each time.
  ASSERT_OK_AND_ASSIGN(std::string again, Seal(kKek, kBinding, "secret key pem"));
  EXPECT_NE(sealed, again);
}

TEST(KeySealTest, TamperedBlobIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, Seal(kKek, kBinding, "secret key pem"));
  std::string raw;
  ASSERT_TRUE(absl::Base64Unescape(sealed, &raw));
  for (size_t at : {size_t{0}, size_t{13}, raw.size() - 1}) {
    std::string bad = raw;
    bad[at] ^= 1;
    EXPECT_TRUE(absl::IsPermissionDenied(Unseal(kKek, kBinding, absl::Base64Escape(bad)).status()))
        << "flipped byte " << at;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(Unseal(kKek, kBinding, "not base64!").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Unseal(kKek, kBinding, "AAAA").status()));
}

TEST(KeySealTest, WrongKekOrBindingIsRefused) {
  ASSERT_OK_AND_ASSIGN(std::string sealed, Seal(kKek, kBinding, "secret key pem"));
  EXPECT_TRUE(absl::IsPermissionDenied(Unseal(std::string(32, 'x'), kBinding, sealed).status()));
  for (const std::string& other :
       {SealBinding("/palisade/example.org/ca/state", "example.org", 2, "root"),
        SealBinding("/palisade/example.org/ca/state", "example.org", 1, "intermediate"),
        SealBinding("/palisade/example.org/ca/state", "other.org", 1, "root"),
        SealBinding("/other/ca/state", "example.org", 1, "root")}) {
    EXPECT_TRUE(absl::IsPermissionDenied(Unseal(kKek, other, sealed).status())) << other;
  }
}

TEST(KeySealTest, SealRefusesAShortKek) { EXPECT_FALSE(Seal("short", kBinding, "x").ok()); }

TEST(KeySealTest, LoadsRawAndBase64Keks) {
  ASSERT_OK_AND_ASSIGN(std::string raw, LoadKek(TempFile("kek.raw", kKek, 0400)));
  EXPECT_EQ(raw, kKek);
  ASSERT_OK_AND_ASSIGN(std::string b64,
                       LoadKek(TempFile("kek.b64", absl::Base64Escape(kKek) + "\n", 0600)));
  EXPECT_EQ(b64, kKek);
}

TEST(KeySealTest, RefusesGroupOrWorldAccessibleKek) {
  for (mode_t mode : {0640, 0604, 0620, 0644}) {
    absl::StatusOr<std::string> kek = LoadKek(TempFile("kek.open", kKek, mode));
    EXPECT_TRUE(absl::IsPermissionDenied(kek.status())) << std::oct << mode;
    EXPECT_THAT(kek.status().message(), HasSubstr("--ca_kek_file"));
  }
}

TEST(KeySealTest, RefusesAKekOfTheWrongSize) {
  for (const std::string& contents : {std::string(31, 'a'), std::string(33, 'a'),
                                      absl::Base64Escape(std::string(16, 'a')), std::string()}) {
    absl::StatusOr<std::string> kek = LoadKek(TempFile("kek.bad", contents, 0600));
    EXPECT_TRUE(absl::IsInvalidArgument(kek.status())) << contents;
    EXPECT_THAT(kek.status().message(), HasSubstr("32"));
  }
  EXPECT_THAT(LoadKek("/nonexistent/kek").status().message(), HasSubstr("--ca_kek_file"));
}

}  // namespace
}  // namespace palisade::control::ca
