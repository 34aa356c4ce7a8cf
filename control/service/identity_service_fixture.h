// The identity service's test fixture: a real in-process gRPC server and an
// insecure channel made from a socket the test connected itself, so the test
// can put that socket's address in the peer table as the identity port would.
#ifndef PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_FIXTURE_H_
#define PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_FIXTURE_H_

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/auth/join_token_store.h"
#include "control/auth/jwks.h"
#include "control/auth/service_account_verifier.h"
#include "control/ca/certificate_authority.h"
#include "control/service/audit_log.h"
#include "control/service/identity_service.h"
#include "control/service/peer_table.h"
#include "control/service/workload_registry.h"
#include "control/state/state_files.h"
#include "gtest/gtest.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "tests/util/status_matchers.h"
#include "tests/util/test_jwt.h"

namespace palisade::control::service {

inline constexpr char kTd[] = "example.org";
inline constexpr char kIssuer[] = "https://kubernetes.default.svc";
inline constexpr char kAudience[] = "palisade";

class IdentityServiceTest : public ::testing::Test {
 protected:
  using Stream = grpc::ClientReaderWriter<v1::WatchRequest, v1::WatchResponse>;

  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    static int counter = 0;
    dir_ = absl::StrCat(base != nullptr ? base : "/tmp", "/svc-", counter++);
    ASSERT_OK(state::EnsureDirectory(dir_, 0700));
    now_ms_.store(absl::ToUnixMillis(absl::Now()));
    ASSERT_OK_AND_ASSIGN(ca_, ca::CertificateAuthority::OpenSelfManaged({kTd, dir_}, Now()));
    ASSERT_OK_AND_ASSIGN(tokens_, auth::JoinTokenStore::Open(dir_ + "/tokens.json"));
    ASSERT_OK_AND_ASSIGN(registry_, WorkloadRegistry::Open(""));
    ASSERT_OK_AND_ASSIGN(audit_, AuditLog::Open(dir_ + "/audit.log"));
    if (jwt_ == nullptr) jwt_ = new ::palisade::testing::TestJwtIssuer();
    ASSERT_OK_AND_ASSIGN(auto jwks, auth::Jwks::Parse(jwt_->JwksJson()));
    sa_ = std::make_unique<auth::ServiceAccountVerifier>(
        jwks, auth::ServiceAccountVerifier::Options{kTd, kIssuer, kAudience, absl::Seconds(30)});
    IdentityServiceOptions options;
    options.trust_domain = kTd;
    options.svid_ttl = absl::Minutes(10);
    options.clock = [this] { return Now(); };
    IdentityServiceDeps deps{ca_.get(), tokens_.get(), sa_.get(), registry_.get(),
                             &peers_,   audit_.get(),  nullptr};
    service_ = std::make_unique<IdentityService>(options, deps);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    builder.SetMaxReceiveMessageSize(1 << 20);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  absl::Time Now() const { return absl::FromUnixMillis(now_ms_.load()); }
  void Advance(absl::Duration d) { now_ms_.fetch_add(absl::ToInt64Milliseconds(d)); }

  // A connected channel whose source address the peer table maps to `peer`
  // (or to nothing when `register_peer` is false).
  struct Client {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::IdentityService::Stub> stub;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<Stream> stream;
  };
  Client Connect(std::optional<PeerIdentity> peer, bool register_peer = true) {
    Client c;
    auto address = net::SocketAddress::Parse(absl::StrCat("127.0.0.1:", port_));
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, address->sockaddr_ptr(), address->length()), 0);
    auto local = net::LocalAddressOf(fd);
    if (register_peer) peers_.Add(PeerTable::KeyFor(*local), peer.value_or(PeerIdentity{}));
    c.channel = grpc::CreateInsecureChannelFromFd("test", fd);
    c.stub = v1::IdentityService::NewStub(c.channel);
    c.context = std::make_unique<grpc::ClientContext>();
    c.context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    c.stream = c.stub->Watch(c.context.get());
    return c;
  }

  static v1::WatchRequest Hello(const std::string& join_token = "",
                                const std::string& sa_token = "") {
    v1::WatchRequest r;
    r.mutable_hello()->set_instance_name("pod-1");
    r.mutable_hello()->set_version("test");
    if (!join_token.empty()) r.mutable_hello()->set_join_token(join_token);
    if (!sa_token.empty()) r.mutable_hello()->set_service_account_token(sa_token);
    return r;
  }

  static v1::WatchRequest ReattestationHello(const std::string& token) {
    v1::WatchRequest r = Hello();
    r.mutable_hello()->set_reattestation_token(token);
    return r;
  }

  v1::WatchRequest Csr(const std::string& spiffe_id, uint64_t request_id = 7) {
    key_ = *identity::GenerateP256Key();
    v1::WatchRequest r;
    r.mutable_csr()->set_csr_der(
        *identity::CreateCsrDer(key_.get(), *identity::SpiffeId::Parse(spiffe_id)));
    r.mutable_csr()->set_request_id(request_id);
    return r;
  }

  std::string NewToken(const std::string& spiffe_id, bool single_use = true) {
    return tokens_->Create(*identity::SpiffeId::Parse(spiffe_id), absl::Hours(1), single_use, Now())
        ->token;
  }

  // Sends `requests`, then reads until the server ends the stream.
  grpc::Status Exchange(Client& c, const std::vector<v1::WatchRequest>& requests,
                        std::vector<v1::WatchResponse>* responses = nullptr) {
    for (const auto& r : requests) c.stream->Write(r);
    v1::WatchResponse response;
    while (c.stream->Read(&response)) {
      if (responses != nullptr) responses->push_back(response);
    }
    return c.stream->Finish();
  }

  // The PeerIdentity the identity port would record for a verified SVID.
  PeerIdentity PeerFor(const v1::SvidUpdate& svid) {
    auto leaf = identity::ParseDerCertificate(svid.certificate_chain_der(0));
    PeerIdentity peer;
    peer.spiffe_id = *identity::SpiffeIdOf(leaf->get());
    peer.serial = identity::SerialHex(leaf->get());
    peer.root_fingerprint = ca_->ActiveRootFingerprint();
    peer.not_after = identity::NotAfter(leaf->get());
    return peer;
  }

  std::string AuditText() { return *state::ReadStateFile(dir_ + "/audit.log"); }

  std::string dir_;
  std::atomic<int64_t> now_ms_{0};
  std::unique_ptr<ca::CertificateAuthority> ca_;
  std::unique_ptr<auth::JoinTokenStore> tokens_;
  std::unique_ptr<WorkloadRegistry> registry_;
  std::unique_ptr<AuditLog> audit_;
  static inline ::palisade::testing::TestJwtIssuer* jwt_ = nullptr;  // shared, never freed
  std::unique_ptr<auth::ServiceAccountVerifier> sa_;
  PeerTable peers_;
  std::unique_ptr<IdentityService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bssl::UniquePtr<EVP_PKEY> key_;
};

}  // namespace palisade::control::service

#endif  // PALISADE_CONTROL_SERVICE_IDENTITY_SERVICE_FIXTURE_H_
