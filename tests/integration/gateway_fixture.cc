#include "tests/integration/gateway_fixture.h"

#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "tests/util/loopback.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"

namespace palisade::testing {

std::string GatewayKeyPin(const std::string& pem_file) {
  auto certs = identity::ParsePemCertificates(ReadFileOrEmpty(pem_file));
  if (!certs.ok()) return "";
  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey((*certs)[0].get()));
  uint8_t* der = nullptr;
  const int len = i2d_PUBKEY(key.get(), &der);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(der, len, digest);
  OPENSSL_free(der);
  return absl::StrCat("sha256//", absl::Base64Escape(absl::string_view(
                                      reinterpret_cast<const char*>(digest), sizeof(digest))));
}

std::unique_ptr<DeviceConnection> DeviceConnection::Open(uint16_t port, const std::string& dir,
                                                         const std::string& name) {
  std::unique_ptr<DeviceConnection> c(new DeviceConnection());
  c->ctx_.reset(SSL_CTX_new(TLS_method()));
  const std::string pem = absl::StrCat(dir, "/", name, ".pem");
  const std::string key = absl::StrCat(dir, "/", name, ".key");
  // The gateway's own identity is not what these tests are about.
  SSL_CTX_set_verify(c->ctx_.get(), SSL_VERIFY_NONE, nullptr);
  if (!SSL_CTX_use_certificate_chain_file(c->ctx_.get(), pem.c_str()) ||
      !SSL_CTX_use_PrivateKey_file(c->ctx_.get(), key.c_str(), SSL_FILETYPE_PEM)) {
    return nullptr;
  }
  c->fd_ = ConnectLoopback(port, absl::Seconds(5));
  if (c->fd_ < 0) return nullptr;
  c->ssl_.reset(SSL_new(c->ctx_.get()));
  SSL_set_fd(c->ssl_.get(), c->fd_);
  if (SSL_connect(c->ssl_.get()) != 1) return nullptr;
  // TLS 1.3: a refusal arrives after the client's Finished; one exchange proves it is in.
  if (!c->Echo("hello\n")) return nullptr;
  return c;
}

DeviceConnection::~DeviceConnection() {
  ssl_.reset();
  if (fd_ >= 0) close(fd_);
}

bool DeviceConnection::Echo(const std::string& line) {
  if (SSL_write(ssl_.get(), line.data(), static_cast<int>(line.size())) !=
      static_cast<int>(line.size())) {
    return false;
  }
  std::string got;
  char buf[4096];
  while (got.size() < line.size()) {
    const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (n <= 0) return false;
    got.append(buf, n);
  }
  return got == line;
}

void GatewayTest::SetUp() {
  // A folder of their own: the watcher reloads on any change in it.
  trust_dir_ = dir() + "/trust";
  ASSERT_EQ(mkdir(trust_dir_.c_str(), 0700), 0) << trust_dir_;
  WriteFileOrDie(trust_dir_ + "/device-ca.pem", devices_.BundlePem());
  WriteFileOrDie(trust_dir_ + "/devices.crl", CrlPem(devices_.root(), {}, absl::Now()));
  sensor_ = WriteDevice("sensor-1", "sensor-1.devices.example.com");
  WriteDevice("outsider", "laptop.corp.example.com");
  mesh_.WriteSvid("gateway", "/ns/edge/sa/gateway");
  mesh_.WriteSvid("meshpeer", "/ns/shop/sa/frontend");  // a mesh SVID, not a device
  auto echo = mesh_.StartBackend("echo", "echo");
  ASSERT_TRUE(echo.ok()) << echo.status();
  echo_ = *echo;
  auto http = mesh_.StartBackend("http", "http");
  ASSERT_TRUE(http.ok()) << http.status();
  http_ = *http;
}

bssl::UniquePtr<X509> GatewayTest::WriteDevice(const std::string& name, const std::string& dns,
                                               const TestPki* ca) {
  const TestPki& issuer = ca != nullptr ? *ca : devices_;
  CertSpec spec = issuer.LeafSpec("");
  spec.uri_sans.clear();
  spec.dns_sans = {dns};
  spec.subject = {{"O", "Example"}, {"OU", "sensors"}, {"CN", name}};
  spec.extended_key_usage = std::vector<int>{NID_client_auth};
  const Credential leaf = issuer.IssueLeaf(spec);
  WriteFileOrDie(absl::StrCat(dir(), "/", name, ".pem"), issuer.ChainPem(leaf));
  WriteFileOrDie(absl::StrCat(dir(), "/", name, ".key"), issuer.KeyPem(leaf));
  return bssl::UpRef(leaf.cert);
}

ProxyYaml::Inbound& GatewayTest::AddGateway(ProxyYaml& config, const std::string& name,
                                            const std::string& forward_to) {
  ProxyYaml::Inbound& in = config.AddInbound(name, forward_to);
  ProxyYaml::Gateway gateway;
  gateway.trust_store_files = {trust_dir_ + "/device-ca.pem"};
  gateway.crl_files = {trust_dir_ + "/devices.crl"};
  gateway.identity_from = "dns_san";
  gateway.dns_wildcards = {kDeviceWildcard};
  in.gateway = gateway;
  return in;
}

void GatewayTest::StartGateway(const ProxyYaml& config) {
  auto proxy = mesh_.StartReadyProxy("gateway", config);
  ASSERT_TRUE(proxy.ok()) << proxy.status() << "\n" << mesh_.Logs();
  gateway_ = *proxy;
}

uint16_t GatewayTest::Port(const std::string& listener) {
  auto port = gateway_->ListenerPort(listener);
  EXPECT_TRUE(port.ok()) << port.status();
  return port.ok() ? *port : 0;
}

CommandResult GatewayTest::SClient(uint16_t port, const std::string& cert, const std::string& input,
                                   std::vector<std::string> extra) {
  std::vector<std::string> argv = {
      "openssl", "s_client", "-connect", absl::StrCat("127.0.0.1:", port), "-quiet", "-ign_eof"};
  if (!cert.empty()) {
    const std::string pem = absl::StrCat(dir(), "/", cert, ".pem");
    argv.insert(argv.end(),
                {"-cert", pem, "-cert_chain", pem, "-key", absl::StrCat(dir(), "/", cert, ".key")});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return RunCommand(argv, absl::Seconds(4), input);
}

double GatewayTest::Failures(const std::string& listener, const std::string& reason) {
  return MetricSum(gateway_->Metrics(), "palisade_handshakes_total",
                   {{"listener", listener}, {"result", "failure"}, {"reason", reason}});
}

void GatewayTest::Replace(const std::string& file, const std::string& contents) {
  const std::string path = absl::StrCat(trust_dir_, "/", file);
  WriteFileOrDie(path + ".new", contents);
  ASSERT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0) << path;
}

}  // namespace palisade::testing
