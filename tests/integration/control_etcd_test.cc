// Two palisade-control replicas sharing one etcd store (issue 14), with a
// real three-member etcd cluster and one plug-in CA for both replicas: join
// tokens are single use across replicas, a de-registration made on one
// replica reaches the proxies of the other within 2 s, one etcd member lost
// changes nothing, a malformed record is refused naming its key, and with
// all of etcd down renewals go on, bootstraps are refused (store_unavailable)
// and /ready says why, until etcd returns.
#include <gtest/gtest.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "identity/certificate.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/loopback.h"
#include "tests/util/mesh_fixture.h"
#include "tests/util/process.h"
#include "tests/util/prometheus_text.h"
#include "tests/util/status_matchers.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPrefix[] = "/palisade/example.org/";
constexpr char kBackend[] = "spiffe://example.org/ns/shop/sa/backend";
constexpr char kFrontend[] = "spiffe://example.org/ns/shop/sa/frontend";
constexpr char kWorkload[] = "spiffe://example.org/ns/shop/sa/cart";

class ControlEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("control-etcd");
    ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd"));
    // One operator CA for both replicas, so either one's SVIDs verify everywhere.
    TestPki pki;
    WriteFileOrDie(dir_ + "/int.pem", PemOf({pki.intermediate().x509()}));
    WriteFileOrDie(dir_ + "/int.key", PemOf(pki.intermediate().key.get()));
    WriteFileOrDie(dir_ + "/roots.pem", pki.BundlePem());
  }

  std::vector<std::string> ReplicaFlags() const {
    return {"--plugin_ca_cert=" + dir_ + "/int.pem", "--plugin_ca_key=" + dir_ + "/int.key",
            "--plugin_root_bundle=" + dir_ + "/roots.pem", "--store=etcd",
            "--etcd_endpoints=" + etcd_->Endpoints()};
  }
  std::unique_ptr<ControlProcess> StartReplica(const std::string& name) {
    auto control = ControlProcess::Start(MakeTempDir("control-etcd-" + name), ReplicaFlags());
    EXPECT_OK(control.status());
    return control.ok() ? *std::move(control) : nullptr;
  }

  std::string Token(const ControlProcess& control, const std::string& id) {
    absl::StatusOr<nlohmann::json> token = control.CreateJoinToken(id);
    EXPECT_OK(token.status());
    return token.ok() ? (*token)["token"].get<std::string>() : "";
  }

  // A de-registration of kWorkload through `through`, and when `other`
  // (another replica) has it on its deny-list: both from the call's start.
  struct Propagation {
    absl::Duration call;
    absl::Duration reached;
  };
  Propagation DeregisterAndWaitForTheOther(ControlProcess& through, ControlProcess& other,
                                           const std::string& situation) {
    const absl::Time start = absl::Now();
    const HttpResult r =
        through.AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kWorkload}}.dump());
    Propagation p{absl::Now() - start, absl::InfiniteDuration()};
    EXPECT_EQ(r.status, 200) << r.body << through.process().Output();
    const bool seen =
        WaitFor([&] { return absl::StrContains(other.State()["revocations"].dump(), kWorkload); },
                absl::Seconds(30), absl::Milliseconds(100));
    if (seen) p.reached = absl::Now() - start;
    std::cout << situation << ": deregister returned after " << absl::FormatDuration(p.call)
              << ", the other replica had it after " << absl::FormatDuration(p.reached) << "\n";
    EXPECT_TRUE(seen) << other.process().Output();
    return p;
  }

  std::string dir_;
  std::unique_ptr<EtcdCluster> etcd_;
};

TEST_F(ControlEtcdTest, SingleUseJoinTokenSpentOnOneReplicaIsRefusedOnTheOther) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  // Created on replica 2, spent through replica 1, refused through replica 2.
  const std::string token = Token(*r2, kWorkload);
  const grpc::Status first = BootstrapWith(*r1, token, kWorkload);
  EXPECT_TRUE(first.ok()) << first.error_message() << r1->process().Output();
  const grpc::Status second = BootstrapWith(*r2, token, kWorkload);
  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(second.error_message(), HasSubstr("already used"));
  // And again through replica 1 itself.
  EXPECT_EQ(BootstrapWith(*r1, token, kWorkload).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// Expired token records are deleted from etcd by housekeeping (here with
// no retention and a prune every second); a live token's record stays.
TEST_F(ControlEtcdTest, ExpiredTokenRecordsArePrunedFromEtcdAndLiveOnesStay) {
  std::vector<std::string> flags = ReplicaFlags();
  flags.push_back("--token_retention=0s");
  flags.push_back("--token_prune_interval=1s");
  auto r1 = ControlProcess::Start(MakeTempDir("control-etcd-r1"), flags);
  auto r2 = ControlProcess::Start(MakeTempDir("control-etcd-r2"), flags);
  ASSERT_OK(r1.status());
  ASSERT_OK(r2.status());
  auto create = [&](int ttl_seconds) {
    const HttpResult r = (*r1)->AdminPost(
        "/api/v1/tokens",
        nlohmann::json{{"spiffe_id", kWorkload}, {"ttl_seconds", ttl_seconds}}.dump());
    nlohmann::json created = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_EQ(r.status, 200) << r.body;
    return created.is_object() && created.contains("id") ? created["id"].get<std::string>() : "";
  };
  const std::string expiring = create(1);
  const std::string live = create(3600);
  ASSERT_FALSE(expiring.empty());
  ASSERT_FALSE(live.empty());
  auto stored = [&](const std::string& id) {
    return absl::StrContains(
        etcd_->Etcdctl({"get", "--prefix", "--keys-only", std::string(kPrefix) + "tokens/"}).output,
        "tokens/" + id);
  };
  EXPECT_TRUE(stored(expiring));
  // It expires after 1 s; pruning runs every second. Bounded wait.
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (stored(expiring) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(stored(expiring)) << "expired token record still in etcd after 15 s";
  EXPECT_TRUE(stored(live)) << "a live token's record was pruned";
  EXPECT_TRUE((*r1)->process().Running());
  EXPECT_TRUE((*r2)->process().Running());
}

TEST_F(ControlEtcdTest, OneEtcdMemberKilledChangesNothing) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  etcd_->KillMember(0);
  // Ready throughout: the replicas' watches move to another member (a
  // Kubernetes readiness probe may look at any moment). 20 looks over 2 s.
  int unready = 0;
  for (int i = 0; i < 20; ++i) {
    if (HttpGet(r1->admin_url() + "/ready").status != 200) ++unready;
    if (HttpGet(r2->admin_url() + "/ready").status != 200) ++unready;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(unready, 0) << HttpGet(r1->admin_url() + "/ready").body;
  const std::string token = Token(*r1, kWorkload);
  Svid svid;
  const grpc::Status first = BootstrapWith(*r2, token, kWorkload, &svid);
  ASSERT_TRUE(first.ok()) << first.error_message() << r2->process().Output();
  EXPECT_EQ(BootstrapWith(*r1, token, kWorkload).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(RenewsOverMtls(*r1, svid, kWorkload));
  EXPECT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
  EXPECT_EQ(HttpGet(r2->admin_url() + "/ready").status, 200);
}

TEST_F(ControlEtcdTest, MalformedRecordIsRefusedNamingItsKeyAndNotOverwritten) {
  auto r1 = StartReplica("r1");
  ASSERT_TRUE(r1);
  const std::string key = absl::StrCat(kPrefix, "revocations/", kWorkload);
  ASSERT_EQ(etcd_->Etcdctl({"put", key, "{not json"}).exit_code, 0);
  const HttpResult r =
      r1->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kWorkload}}.dump());
  EXPECT_NE(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(key)) << r.body;
  // A foreign record (valid JSON, not ours) under the token prefix: a
  // bootstrap naming that token id is refused with the key.
  const std::string token_key = absl::StrCat(kPrefix, "tokens/jt-00000000000000ff");
  ASSERT_EQ(etcd_->Etcdctl({"put", token_key, "{\"hello\":1}"}).exit_code, 0);
  const grpc::Status bootstrap = BootstrapWith(
      *r1, "pjt.jt-00000000000000ff.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", kWorkload);
  EXPECT_FALSE(bootstrap.ok());
  EXPECT_THAT(bootstrap.error_message(), HasSubstr(token_key));
  // Both records are still as they were.
  EXPECT_THAT(etcd_->Etcdctl({"get", "--print-value-only", key}).output, HasSubstr("{not json"));
  EXPECT_THAT(etcd_->Etcdctl({"get", "--print-value-only", token_key}).output,
              HasSubstr("{\"hello\":1}"));

  // The refused record is logged once per (key, mod revision), not again on
  // every change the watch delivers: five unrelated tokens change nothing.
  auto logged = [&] {
    size_t count = 0;
    for (absl::string_view line : absl::StrSplit(r1->process().Output(), '\n')) {
      if (absl::StrContains(line, "shared join token record refused") &&
          absl::StrContains(line, token_key)) {
        ++count;
      }
    }
    return count;
  };
  EXPECT_TRUE(WaitFor([&] { return logged() >= 1; }, absl::Seconds(5)));
  for (int i = 0; i < 5; ++i) Token(*r1, kWorkload);
  // Bounded: long enough for the watch to deliver the five changes.
  WaitFor([&] { return logged() > 1; }, absl::Seconds(3));
  EXPECT_EQ(logged(), 1u) << r1->process().Output();
  // Rewritten (a new mod revision), it is logged again, once.
  ASSERT_EQ(etcd_->Etcdctl({"put", token_key, "{\"hello\":2}"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return logged() >= 2; }, absl::Seconds(5)));
  for (int i = 0; i < 3; ++i) Token(*r1, kWorkload);
  WaitFor([&] { return logged() > 2; }, absl::Seconds(3));
  EXPECT_EQ(logged(), 2u) << r1->process().Output();
}

TEST_F(ControlEtcdTest, AllOfEtcdDownRefusesBootstrapsServesRenewalsAndRecovers) {
  auto r1 = StartReplica("r1");
  ASSERT_TRUE(r1);
  Svid svid;
  ASSERT_TRUE(BootstrapWith(*r1, Token(*r1, kWorkload), kWorkload, &svid).ok());
  const std::string token = Token(*r1, "spiffe://example.org/ns/shop/sa/late");
  for (int i = 0; i < etcd_->size(); ++i) etcd_->KillMember(i);

  const grpc::Status refused = BootstrapWith(*r1, token, "spiffe://example.org/ns/shop/sa/late");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("store_unavailable"));
  EXPECT_TRUE(RenewsOverMtls(*r1, svid, kWorkload));
  const HttpResult dereg =
      r1->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kWorkload}}.dump());
  EXPECT_NE(dereg.status, 200);
  EXPECT_THAT(dereg.body, HasSubstr("store_unavailable"));
  EXPECT_TRUE(WaitFor(
      [&] {
        const HttpResult ready = HttpGet(r1->admin_url() + "/ready");
        return ready.status == 503 && absl::StrContains(ready.body, "store_unavailable");
      },
      absl::Seconds(10)))
      << HttpGet(r1->admin_url() + "/ready").body;

  for (int i = 0; i < etcd_->size(); ++i) ASSERT_OK(etcd_->RestartMember(i));
  ASSERT_OK(etcd_->WaitHealthy());
  EXPECT_TRUE(
      WaitFor([&] { return HttpGet(r1->admin_url() + "/ready").status == 200; }, absl::Seconds(15)))
      << HttpGet(r1->admin_url() + "/ready").body;
  const grpc::Status later = BootstrapWith(*r1, token, "spiffe://example.org/ns/shop/sa/late");
  EXPECT_TRUE(later.ok()) << later.error_message();
}

// The proxies are on replica 1; the de-registration is made on replica 2.
TEST_F(ControlEtcdTest, DeregistrationOnOneReplicaIsEnforcedByProxiesOfTheOther) {
  MeshFixture::Options options;
  options.trust_domain = "example.org";
  MeshFixture mesh(options);
  ASSERT_OK(mesh.StartControl(ReplicaFlags()));
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r2);
  ASSERT_OK_AND_ASSIGN(EchoBackend * echo, mesh.StartBackend("echo"));

  ASSERT_OK_AND_ASSIGN(ProxyYaml in_config, mesh.ControlPlaneConfig("backend", kBackend));
  in_config.AddInbound("in", echo->address()).authorization.spiffe_ids = {kFrontend};
  ASSERT_OK_AND_ASSIGN(ProxyProcess * inbound, mesh.StartReadyProxy("backend", in_config));
  ASSERT_OK_AND_ASSIGN(ProxyYaml out_config, mesh.ControlPlaneConfig("frontend", kFrontend));
  out_config.AddOutbound("out", absl::StrCat("127.0.0.1:", *inbound->ListenerPort("in")))
      .expected_peer.spiffe_id = kBackend;
  ASSERT_OK_AND_ASSIGN(ProxyProcess * outbound, mesh.StartReadyProxy("frontend", out_config));

  auto round_trip = [&] {
    const int fd = ConnectLoopback(*outbound->ListenerPort("out"), absl::Seconds(5));
    if (fd < 0) return false;
    const bool ok = EchoExchange(fd, "ping") == "ping";
    close(fd);
    return ok;
  };
  ASSERT_TRUE(round_trip()) << mesh.Logs();

  const absl::Time start = absl::Now();
  const HttpResult r =
      r2->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kFrontend}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const bool refused = WaitFor(
      [&] {
        return MetricSum(inbound->Metrics(), "palisade_handshakes_total",
                         {{"result", "failure"}, {"reason", "revoked"}}) > 0 ||
               !round_trip();
      },
      absl::Seconds(5), absl::Milliseconds(50));
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(refused) << mesh.Logs();
  EXPECT_LE(took, absl::Seconds(2)) << "took " << took;
  std::cout << "de-registration on replica 2 refused by a proxy of replica 1 after "
            << absl::FormatDuration(took) << "\n";
  EXPECT_FALSE(round_trip());
  // Replica 1 learnt it from etcd and shows it.
  EXPECT_THAT(mesh.control().State().dump(), HasSubstr(kFrontend));

  // `register` on replica 2 re-admits the identity everywhere: the proxies
  // of replica 1 accept it again (its SVID is still valid) within 2 s.
  const absl::Time lift = absl::Now();
  const HttpResult back =
      r2->AdminPost("/api/v1/register", nlohmann::json{{"spiffe_id", kFrontend}}.dump());
  ASSERT_EQ(back.status, 200) << back.body;
  const bool accepted = WaitFor(round_trip, absl::Seconds(5), absl::Milliseconds(50));
  const absl::Duration lifted_after = absl::Now() - lift;
  EXPECT_TRUE(accepted) << mesh.Logs();
  EXPECT_LE(lifted_after, absl::Seconds(2)) << "took " << lifted_after;
  std::cout << "registration on replica 2 accepted by a proxy of replica 1 after "
            << absl::FormatDuration(lifted_after) << "\n";
  // Replica 1 dropped it from its deny-list and its de-registrations too.
  const nlohmann::json state = mesh.control().State();
  EXPECT_THAT(state["revocations"].dump(), Not(HasSubstr(kFrontend)));
  EXPECT_THAT(state["deregistered"].dump(), Not(HasSubstr(kFrontend)));
  mesh.StopProxies();
}

// A replica's registry knows only the certificates it issued itself. The
// deny-list entry of a de-registration must still outlive the identity's
// last certificate, even one another replica issued later: an entry that
// ended with the older certificate would let the newer one in again.
TEST_F(ControlEtcdTest, DenyListEntryOutlivesACertificateAnotherReplicaIssuedLater) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  Svid first;
  ASSERT_TRUE(BootstrapWith(*r2, Token(*r2, kWorkload), kWorkload, &first).ok());
  // Certificate times have one-second resolution: the renewal's notAfter
  // must come out later than the bootstrap's.
  absl::SleepFor(absl::Milliseconds(2100));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IdentityStream> stream, IdentityStream::Open(*r1, &first));
  control::v1::WatchResponse response;
  ASSERT_TRUE(stream->Write(HelloRequest()) && stream->Read(&response));
  bssl::UniquePtr<EVP_PKEY> key;
  ASSERT_TRUE(stream->Write(CsrRequest(kWorkload, &key, 2)));
  std::optional<Svid> renewed;
  for (int i = 0; i < 20 && !renewed.has_value() && stream->Read(&response); ++i) {
    if (response.has_svid()) renewed = SvidFrom(response, std::move(key));
  }
  ASSERT_TRUE(renewed.has_value()) << r1->process().Output();
  const absl::Time first_not_after = identity::NotAfter(first.chain[0].get());
  const absl::Time renewed_not_after = identity::NotAfter(renewed->chain[0].get());
  ASSERT_GT(renewed_not_after, first_not_after);

  // De-registered on replica 2, which saw only the first certificate.
  const HttpResult r =
      r2->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kWorkload}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  absl::Time until;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full,
                              nlohmann::json::parse(r.body)["revoked_until"].get<std::string>(),
                              &until, &error))
      << r.body;
  EXPECT_GE(until, renewed_not_after)
      << "the deny-list entry ends at " << absl::FormatTime(until) << ", before the certificate "
      << "replica 1 issued (notAfter " << absl::FormatTime(renewed_not_after) << ")";
}

// A member that hangs (SIGSTOP: its sockets open, nothing answered) is not a
// member that is gone: nothing fails fast, and a watch on it just goes
// quiet. The replicas must leave it by themselves: a de-registration made
// through one still succeeds, and reaches the other within seconds.
TEST_F(ControlEtcdTest, AHungEtcdMemberIsLeftBehindWithinSeconds) {
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  Svid svid;
  ASSERT_TRUE(BootstrapWith(*r1, Token(*r1, kWorkload), kWorkload, &svid).ok());
  // Both replicas talk to the first member until it fails them.
  etcd_->PauseMember(0);
  const Propagation p = DeregisterAndWaitForTheOther(*r2, *r1, "with member 0 hung");
  const absl::Duration call = p.call, reached = p.reached;
  // The write waits out one attempt (1 s) on the hung member, then goes to
  // the next. Replica 1's watch leaves the member at its first unanswered
  // probe (keepalive alone took 5.2 s). Within the 2 s a revocation has.
  EXPECT_LE(call, absl::Seconds(2));
  EXPECT_LE(reached, absl::Seconds(2));
  // Ready throughout (two members of three answer).
  EXPECT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
  EXPECT_EQ(HttpGet(r2->admin_url() + "/ready").status, 200);
  etcd_->ResumeMember(0);
}

// A member cut off from the other two (a network partition of its peer
// links) is alive and answers its clients, keepalive pings included, but
// has no leader: its linearizable reads and writes stall and a watch on it
// goes quiet. The replicas, both on that member first, must leave it.
TEST_F(ControlEtcdTest, AnEtcdMemberCutOffFromItsPeersIsLeftBehindWithinSeconds) {
  // The fixture's cluster again, its peer traffic through relays.
  etcd_.reset();
  ASSERT_OK_AND_ASSIGN(etcd_, EtcdCluster::Start(dir_ + "/etcd-relayed", 3, /*tls=*/nullptr,
                                                 /*relayed_peers=*/true));
  auto r1 = StartReplica("r1");
  auto r2 = StartReplica("r2");
  ASSERT_TRUE(r1 && r2);
  Svid svid;
  ASSERT_TRUE(BootstrapWith(*r1, Token(*r1, kWorkload), kWorkload, &svid).ok());
  const std::vector<std::string> members = absl::StrSplit(etcd_->Endpoints(), ',');
  // A linearizable read on one member alone (needs its leader). Not
  // Etcdctl(): it names every member, and --endpoints adds up.
  auto read_on = [&](int i) {
    return RunCommand(
        {"/usr/bin/env", "ETCDCTL_API=3", "/usr/bin/etcdctl", "--endpoints=" + members[i],
         "--command-timeout=1s", "get", "/partition-probe"},
        absl::Seconds(10));
  };
  ASSERT_EQ(read_on(0).exit_code, 0) << read_on(0).output;

  etcd_->PartitionMember(0);
  const Propagation p = DeregisterAndWaitForTheOther(*r2, *r1, "with member 0 cut off");
  // Right after the cut, member 0 still believes it has a leader for up to
  // etcd's election timeout: the write's first attempt (1 s) is lost there.
  EXPECT_LE(p.call, absl::Seconds(2));
  EXPECT_LE(p.reached, absl::Seconds(2));

  // The partition is real: the two others, a quorum, serve a linearizable
  // read (once they have a leader, if member 0 was it); member 0, up, cannot.
  EXPECT_TRUE(WaitFor([&] { return read_on(1).exit_code == 0; }, absl::Seconds(10),
                      absl::Milliseconds(100)))
      << read_on(1).output;
  EXPECT_TRUE(WaitFor([&] { return read_on(2).exit_code == 0; }, absl::Seconds(10),
                      absl::Milliseconds(100)))
      << read_on(2).output;
  const CommandResult cut = read_on(0);
  EXPECT_NE(cut.exit_code, 0) << cut.output;
  EXPECT_THAT(etcd_->Etcdctl({"endpoint", "status"}).output, HasSubstr("no leader"));
  // Once member 0 knows it has no leader, a write does not wait out the 2 s
  // call deadline there (the one above, right after the cut, mostly did):
  // replica 1 has not written since the cut, so its writes start on member 0.
  const absl::Time again = absl::Now();
  const HttpResult r_again =
      r1->AdminPost("/api/v1/deregister", nlohmann::json{{"spiffe_id", kBackend}}.dump());
  const absl::Duration call_again = absl::Now() - again;
  std::cout << "member 0 without a leader: deregister through replica 1 returned after "
            << absl::FormatDuration(call_again) << "\n";
  EXPECT_EQ(r_again.status, 200) << r_again.body << r1->process().Output();
  EXPECT_LT(call_again, absl::Milliseconds(1500));
  EXPECT_TRUE(
      WaitFor([&] { return absl::StrContains(r2->State()["revocations"].dump(), kBackend); },
              absl::Seconds(10), absl::Milliseconds(100)));
  EXPECT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
  EXPECT_EQ(HttpGet(r2->admin_url() + "/ready").status, 200);

  // Healed: member 0 rejoins, and tokens are single use across replicas.
  etcd_->HealMember(0);
  EXPECT_TRUE(WaitFor([&] { return read_on(0).exit_code == 0; }, absl::Seconds(15),
                      absl::Milliseconds(200)));
  const std::string token = Token(*r1, kFrontend);
  const grpc::Status first = BootstrapWith(*r1, token, kFrontend);
  EXPECT_TRUE(first.ok()) << first.error_message() << r1->process().Output();
  EXPECT_EQ(BootstrapWith(*r2, token, kFrontend).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(HttpGet(r1->admin_url() + "/ready").status, 200);
  EXPECT_EQ(HttpGet(r2->admin_url() + "/ready").status, 200);
}

}  // namespace
}  // namespace palisade::testing
