#include "proxy/config/file_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/util/status_matchers.h"

namespace palisade::config {
namespace {

using ::palisade::testing::IsOk;
using ::palisade::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kCertificate[] = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n";

class FileCheckTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& contents) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
};

TEST_F(FileCheckTest, AcceptsFilesOfTheRightShape) {
  EXPECT_THAT(
      CheckConfigFile(Write("chain.pem", std::string("intro\n") + kCertificate + kCertificate),
                      FileKind::kCertificates),
      IsOk());
  EXPECT_THAT(CheckConfigFile(Write("key.pem", kKey), FileKind::kPrivateKey), IsOk());
  EXPECT_THAT(CheckConfigFile(Write("token", "abc.def\n"), FileKind::kToken), IsOk());
}

TEST_F(FileCheckTest, NamesTheOsErrorForAMissingFile) {
  EXPECT_THAT(CheckConfigFile("/nonexistent/x.pem", FileKind::kCertificates),
              StatusIs(absl::StatusCode::kNotFound,
                       "\"/nonexistent/x.pem\": cannot open: No such file or directory"));
}

TEST_F(FileCheckTest, NamesTheOsErrorForAnUnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  const std::string path = Write("secret.pem", kCertificate);
  chmod(path.c_str(), 0);
  EXPECT_THAT(CheckConfigFile(path, FileKind::kCertificates),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Permission denied")));
}

TEST_F(FileCheckTest, AFileTheProxyWritesMayBeAbsentOrEmptyButItsDirectoryMustExist) {
  const std::string token = Write("token", "abc\n");
  EXPECT_THAT(CheckConfigFile(token, FileKind::kWrittenByProxy), IsOk());
  EXPECT_THAT(CheckConfigFile(Write("blank", ""), FileKind::kWrittenByProxy), IsOk());
  EXPECT_THAT(CheckConfigFile(token + ".not-yet", FileKind::kWrittenByProxy), IsOk());
  EXPECT_THAT(CheckConfigFile("/nonexistent/token.reattest", FileKind::kWrittenByProxy),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "\"/nonexistent/token.reattest\" cannot be written: its directory "
                       "\"/nonexistent\" does not exist"));
  EXPECT_THAT(CheckConfigFile("/", FileKind::kWrittenByProxy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST_F(FileCheckTest, RefusesADirectory) {
  EXPECT_THAT(CheckConfigFile("/", FileKind::kCertificates),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"/\": is a directory, not a file"));
}

TEST_F(FileCheckTest, RefusesAFileThatIsNotPem) {
  EXPECT_THAT(CheckConfigFile(Write("der.pem", std::string("\x30\x82\x01\x0a", 4)),
                              FileKind::kCertificates),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not look like PEM (no \"-----BEGIN\" line)")));
}

TEST_F(FileCheckTest, SpotsSwappedKeyAndCertificate) {
  EXPECT_THAT(CheckConfigFile(Write("k.pem", kKey), FileKind::kCertificates),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\"); it "
                                 "holds a private key: are the key and certificate files "
                                 "swapped?")));
  EXPECT_THAT(CheckConfigFile(Write("c.pem", kCertificate), FileKind::kPrivateKey),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holds no PEM private key")));
}

TEST_F(FileCheckTest, RefusesAnEmptyToken) {
  EXPECT_THAT(CheckConfigFile(Write("empty_token", " \n"), FileKind::kToken),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

TEST_F(FileCheckTest, DoesNotBlockOnAFifo) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/fifo";
  unlink(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  EXPECT_THAT(CheckConfigFile(path, FileKind::kToken),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a regular file")));
}

}  // namespace
}  // namespace palisade::config
