// Rotation through the file source: new certificates are picked up by new
// connections while a live transfer carries on untouched, and a corrupt
// update leaves the running identity serving.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "identity/certificate.h"
#include "tests/integration/proxy_fixture.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

std::string Normalize(std::string serial) {
  serial = absl::AsciiStrToLower(serial);
  absl::string_view s = serial;
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  return std::string(s);
}

class ProxyRotationTest : public TwoHopMesh {
 protected:
  void SetUp() override {
    TwoHopMesh::SetUp();
    StartInbound();
    StartOutbound();
  }

  // The serial the inbound proxy says it serves (/certs).
  std::string ServedSerial() {
    const auto j =
        nlohmann::json::parse(HttpGet(inbound_->admin_url() + "/certs").body, nullptr, false);
    if (j.is_discarded() || j["svid"].is_null()) return "";
    return Normalize(j["svid"]["serial"].get<std::string>());
  }

  // The serial a fresh TLS client sees, read by openssl itself.
  std::string SerialSeenByOpenssl() {
    const CommandResult r = RunCommand(
        {"sh", "-c",
         absl::StrCat("openssl s_client -connect 127.0.0.1:", inbound_port_, " -cert ", dir(),
                      "/frontend.pem -key ", dir(),
                      "/frontend.key </dev/null 2>/dev/null | openssl x509 -noout -serial")},
        absl::Seconds(10));
    absl::string_view out = absl::StripAsciiWhitespace(r.output);
    if (!absl::ConsumePrefix(&out, "serial=")) return "";
    return Normalize(std::string(out));
  }

  // Replaces backend.pem/backend.key the way a secret mount does: new files,
  // then renames.
  void InstallBackendCertificate(const Credential& leaf) {
    const std::string staging = MakeTempDir("staging");
    pki().WriteFiles(staging, "backend", leaf);
    ASSERT_EQ(std::rename((staging + "/backend.key").c_str(), (dir() + "/backend.key").c_str()), 0);
    ASSERT_EQ(std::rename((staging + "/backend.pem").c_str(), (dir() + "/backend.pem").c_str()), 0);
  }
};

TEST_F(ProxyRotationTest, LiveTransferSurvivesRotationAndNewConnectionsSeeTheNewSerial) {
  const std::string old_serial = ServedSerial();
  ASSERT_FALSE(old_serial.empty());
  EXPECT_EQ(SerialSeenByOpenssl(), old_serial);

  const int fd = ConnectLoopback(outbound_port_);
  ASSERT_GE(fd, 0);
  std::string echoed;
  std::thread reader([&] {
    char buf[65536];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return;
      echoed.append(buf, n);
    }
  });
  // Send 1 KiB every few milliseconds for the whole rotation.
  std::string sent;
  auto send_for = [&](absl::Duration d) {
    const absl::Time end = absl::Now() + d;
    for (int i = 0; absl::Now() < end; ++i) {
      const std::string chunk = absl::StrCat(std::string(1000, 'a' + i % 26), "|", i, "\n");
      ASSERT_EQ(send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(chunk.size()));
      sent += chunk;
      absl::SleepFor(absl::Milliseconds(5));  // pacing: a steady trickle, not a wait
    }
  };
  send_for(absl::Milliseconds(300));
  const Credential renewed = pki().IssueLeaf("/ns/shop/sa/backend");
  const std::string new_serial = Normalize(identity::SerialHex(renewed.x509()));
  InstallBackendCertificate(renewed);
  send_for(absl::Milliseconds(300));
  ASSERT_TRUE(WaitFor([&] { return ServedSerial() == new_serial; }, absl::Seconds(10)))
      << inbound_->process().Output();
  send_for(absl::Milliseconds(300));
  shutdown(fd, SHUT_WR);
  reader.join();
  close(fd);
  EXPECT_TRUE(echoed == sent) << "sent " << sent.size() << " bytes, got back " << echoed.size();

  EXPECT_NE(new_serial, old_serial);
  EXPECT_EQ(SerialSeenByOpenssl(), new_serial);
  EXPECT_GE(MetricSum(inbound_->Metrics(), "palisade_svid_rotations_total"), 1);
}

TEST_F(ProxyRotationTest, CorruptUpdateLeavesTheRunningIdentityServing) {
  const std::string serial = ServedSerial();
  ASSERT_FALSE(serial.empty());
  ASSERT_TRUE(WriteFile(dir() + "/backend.pem", "-----BEGIN CERTIFICATE-----\nbroken\n"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_identity_updates_rejected_total") >= 1;
      },
      absl::Seconds(10)))
      << inbound_->process().Output();
  EXPECT_EQ(ServedSerial(), serial);
  EXPECT_EQ(SerialSeenByOpenssl(), serial);
  EXPECT_EQ(HttpGet(inbound_->admin_url() + "/ready").status, 200);
}

TEST_F(ProxyRotationTest, CertificateForAnotherIdentityIsRefused) {
  const std::string serial = ServedSerial();
  // A valid SVID, but not the identity this proxy is configured for.
  InstallBackendCertificate(pki().IssueLeaf("/ns/shop/sa/impostor"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(inbound_->Metrics(), "palisade_identity_updates_rejected_total") >= 1;
      },
      absl::Seconds(10)));
  EXPECT_EQ(ServedSerial(), serial);
}

}  // namespace
}  // namespace palisade::testing
