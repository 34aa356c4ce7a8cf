// Issue 14's replica benchmark, in one run and side by side: one
// palisade-control on the file store against two replicas sharing a real
// three-member etcd, the same client count and the same machine. The CA is
// self-managed by default (the etcd replicas share one, sealed in etcd under
// a key-encryption key); --ca=plugin gives every replica one plug-in CA. It
// measures
//   - issuances/s: renewal streams (mTLS, one per client) sending CSRs back to
//     back, clients split across the replicas; rounds interleaved;
//   - revocation propagation: identity streams held across the replicas,
//     `palisade-control deregister` (the admin CLI) on one replica, time until
//     the last stream has the identity in its deny-list.
// Run it through run.sh (bazel run, the load average beside the figures).
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/integration/identity_stream.h"
#include "tests/util/control_process.h"
#include "tests/util/etcd_cluster.h"
#include "tests/util/process.h"
#include "tests/util/subprocess.h"
#include "tests/util/test_pki.h"

ABSL_FLAG(int, clients, 4, "Concurrent renewal streams sending CSRs (split across replicas).");
ABSL_FLAG(int, rounds, 3, "Issuance rounds per configuration (interleaved).");
ABSL_FLAG(absl::Duration, round_time, absl::Seconds(3), "Length of one issuance round.");
ABSL_FLAG(int, revocations, 10, "De-registrations per configuration (one identity each).");
ABSL_FLAG(int, watchers, 20, "Identity streams watching the deny-list (split across replicas).");
ABSL_FLAG(int, hold_streams, 1000,
          "Streams bench/control_load opens and holds on each of three etcd replicas (0: skip).");
ABSL_FLAG(std::string, ca, "shared",
          "shared: a self-managed CA (the etcd replicas share one in etcd, sealed under a KEK); "
          "plugin: one plug-in CA for every replica.");
ABSL_FLAG(bool, quick, false,
          "Smoke check: 1 round of 1 s, 2 de-registrations, 4 watchers, 3 x 50 streams.");

namespace palisade::bench {
namespace {

using testing::ControlProcess;
using testing::CsrRequest;
using testing::EtcdCluster;
using testing::HelloRequest;
using testing::IdentityStream;
using testing::Svid;
using testing::SvidFrom;

constexpr char kTd[] = "spiffe://example.org/bench/";

// What Run started (replicas, then etcd): std::exit skips destructors, so a
// fatal error stops them here first, and the temporary directories go.
std::vector<std::function<void()>>& Cleanups() {
  static auto* cleanups = new std::vector<std::function<void()>>;
  return *cleanups;
}
void CleanUp() {
  auto& cleanups = Cleanups();
  while (!cleanups.empty()) {
    auto last = std::move(cleanups.back());
    cleanups.pop_back();
    last();
  }
}
std::vector<std::string>& ReplicaDirs() {
  static auto* dirs = new std::vector<std::string>;
  return *dirs;
}
[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  CleanUp();
  std::exit(1);
}

struct Config {
  std::string name;
  std::vector<ControlProcess*> replicas;
};

std::unique_ptr<ControlProcess> StartOrDie(const std::string& dir,
                                           const std::vector<std::string>& flags) {
  auto control = ControlProcess::Start(dir, flags);
  if (!control.ok()) Fatal("palisade-control did not start: " + control.status().ToString());
  ReplicaDirs().push_back(dir);
  return *std::move(control);
}

// A bootstrap with a join token made on `control`: the SVID for `id`.
Svid BootstrapOrDie(ControlProcess& control, const std::string& id) {
  absl::StatusOr<nlohmann::json> token = control.CreateJoinToken(id);
  auto stream = token.ok() ? IdentityStream::Open(control)
                           : absl::StatusOr<std::unique_ptr<IdentityStream>>(token.status());
  if (!stream.ok()) Fatal("bootstrap of " + id + ": " + stream.status().ToString());
  bssl::UniquePtr<EVP_PKEY> key;
  (*stream)->Write(HelloRequest((*token)["token"].get<std::string>()));
  (*stream)->Write(CsrRequest(id, &key));
  std::vector<control::v1::WatchResponse> responses;
  const grpc::Status status = (*stream)->Drain(&responses);
  for (auto& r : responses) {
    if (r.has_svid()) return SvidFrom(r, std::move(key));
  }
  Fatal("bootstrap of " + id + " refused: " + status.error_message() + "\n" +
        control.process().Output());
}

// Issuances/s of one round: each client holds one renewal stream to its
// replica and sends CSRs one after another for `time`.
double IssuanceRound(const Config& config, const std::vector<Svid>& svids, absl::Duration time,
                     int* refused) {
  std::atomic<int> issued{0}, failed{0};
  std::vector<std::thread> clients;
  const absl::Time start = absl::Now();
  const absl::Time end = start + time;
  for (size_t c = 0; c < svids.size(); ++c) {
    clients.emplace_back([&, c] {
      ControlProcess& replica = *config.replicas[c % config.replicas.size()];
      const std::string id = absl::StrCat(kTd, "load-", c);
      auto stream = IdentityStream::Open(replica, &svids[c]);
      if (!stream.ok()) {
        failed.fetch_add(1);
        return;
      }
      control::v1::WatchResponse response;
      (*stream)->Write(HelloRequest());
      uint64_t request_id = 1;
      while (absl::Now() < end) {
        bssl::UniquePtr<EVP_PKEY> key;
        if (!(*stream)->Write(CsrRequest(id, &key, ++request_id))) break;
        bool got = false;
        while ((*stream)->Read(&response)) {
          if (response.has_svid()) {
            got = true;
            break;
          }
        }
        if (!got) break;
        if (absl::Now() <= end) issued.fetch_add(1);
      }
      (*stream)->CloseWrites();
      const grpc::Status status = (*stream)->Drain();
      if (!status.ok()) failed.fetch_add(1);
    });
  }
  for (auto& t : clients) t.join();
  *refused += failed.load();
  return issued.load() / absl::ToDoubleSeconds(time);
}

// One de-registration: `watchers` streams (split across the replicas) hold
// the deny-list; the CLI de-registers `victim` on the first replica; the
// propagation is the time from the CLI's start to the last stream that has it.
// Negative if some stream never got it (10 s).
double PropagationMs(const Config& config, const Svid& watcher_svid, const std::string& victim,
                     int watchers, double* cli_ms) {
  struct Watch {
    std::unique_ptr<IdentityStream> stream;
    absl::Mutex mu;
    bool primed = false;  // first response (the bundle) seen
    absl::Time seen = absl::InfiniteFuture();
  };
  std::vector<std::unique_ptr<Watch>> watches;
  std::vector<std::thread> readers;
  for (int i = 0; i < watchers; ++i) {
    auto w = std::make_unique<Watch>();
    auto stream = IdentityStream::Open(*config.replicas[i % config.replicas.size()], &watcher_svid);
    if (!stream.ok()) Fatal("watcher: " + stream.status().ToString());
    w->stream = *std::move(stream);
    w->stream->Write(HelloRequest());
    Watch* raw = w.get();
    readers.emplace_back([raw, victim] {
      control::v1::WatchResponse response;
      while (raw->stream->Read(&response)) {
        const absl::Time now = absl::Now();
        absl::MutexLock lock(&raw->mu);
        raw->primed = true;  // the bundle after Hello: the stream is being served
        if (!response.has_deny_list()) continue;
        for (const auto& e : response.deny_list().entries()) {
          if (e.spiffe_id() == victim && raw->seen == absl::InfiniteFuture()) raw->seen = now;
        }
      }
    });
    watches.push_back(std::move(w));
  }
  auto all = [&](auto pred) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      bool ok = true;
      for (auto& w : watches) {
        absl::MutexLock lock(&w->mu);
        ok = ok && pred(*w);
      }
      if (ok) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  };
  if (!all([](const Watch& w) { return w.primed; })) Fatal("watchers got no bundle");
  const absl::Time start = absl::Now();
  const testing::CommandResult cli =
      config.replicas[0]->Cli({"deregister", "--spiffe_id=" + victim});
  *cli_ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  if (cli.exit_code != 0) Fatal("deregister: " + cli.output);
  const bool reached = all([](const Watch& w) { return w.seen != absl::InfiniteFuture(); });
  absl::Time last = start;
  for (auto& w : watches) {
    absl::MutexLock lock(&w->mu);
    last = std::max(last, w->seen);
  }
  for (auto& w : watches) w->stream->CloseWrites();
  for (auto& t : readers) t.join();
  for (auto& w : watches) w->stream->Drain();
  return reached ? absl::ToDoubleMilliseconds(last - start) : -1;
}

// Streams held: bench/control_load against each replica at once (its own
// process, descriptors and event loops), each opening `streams` renewal
// streams and holding them; its RESULT line, parsed.
struct Held {
  int with_bundle = -1;
  double rss_mib = 0;
  std::string line;
};
std::vector<Held> HoldStreams(const std::vector<ControlProcess*>& replicas, int streams) {
  std::vector<Held> held(replicas.size());
  std::vector<std::thread> tools;
  for (size_t i = 0; i < replicas.size(); ++i) {
    tools.emplace_back([&, i] {
      ControlProcess& r = *replicas[i];
      const testing::CommandResult out =
          testing::RunCommand({"bench/control_load", "--address=" + r.identity_address(),
                               "--admin=" + r.admin_address(), "--bundle_file=" + r.bundle_file(),
                               absl::StrCat("--streams=", streams), "--hold=3s", "--in_flight=32",
                               absl::StrCat("--server_pid=", r.process().pid()),
                               absl::StrCat("--report_every=", streams)},
                              absl::Seconds(150));
      const size_t at = out.output.find("RESULT ");
      held[i].line = at == std::string::npos ? out.output : out.output.substr(at);
      auto field = [&](const std::string& name) -> std::string {
        const size_t f = held[i].line.find(" " + name + "=");
        if (f == std::string::npos) return "";
        const size_t v = f + name.size() + 2;
        return held[i].line.substr(v, held[i].line.find_first_of(" \n", v) - v);
      };
      if (at != std::string::npos) {
        held[i].with_bundle = std::atoi(field("streams_with_bundle").c_str());
        held[i].rss_mib = std::atof(field("server_rss").c_str());
      }
    });
  }
  for (auto& t : tools) t.join();
  return held;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}
std::string Summary(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return absl::StrFormat("%.1f (%.1f..%.1f)", Percentile(v, 0.5), v.front(), v.back());
}
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

int Run() {
  const bool quick = absl::GetFlag(FLAGS_quick);
  const int rounds = quick ? 1 : absl::GetFlag(FLAGS_rounds);
  const absl::Duration round_time = quick ? absl::Seconds(1) : absl::GetFlag(FLAGS_round_time);
  const int revocations = quick ? 2 : absl::GetFlag(FLAGS_revocations);
  const int watchers = quick ? 4 : absl::GetFlag(FLAGS_watchers);
  const int clients = absl::GetFlag(FLAGS_clients);
  const std::string load_before = LoadAverage();

  const std::string dir = testing::MakeTempDir("control-replicas");
  const std::string ca = absl::GetFlag(FLAGS_ca);
  if (ca != "shared" && ca != "plugin") Fatal("--ca: shared or plugin, not \"" + ca + "\"");
  // The per-identity issuance limiter out of the way (the bench reissues to
  // one identity per client back to back), and the per-source bound on
  // connections still handshaking or silent raised: one control_load, from
  // one address, stands for 1000 proxies that each have their own, and at
  // the default (64) the oldest of its connections are evicted whenever the
  // replica falls behind ("pending_evicted").
  std::vector<std::string> common = {"--issuance_burst=100000", "--issuance_per_ttl=100000",
                                     "--issuance_max_unexpired=100000",
                                     "--max_pending_handshakes_per_source=1024"};
  std::vector<std::string> etcd_ca;
  if (ca == "plugin") {
    testing::TestPki pki;
    testing::WriteFileOrDie(dir + "/int.pem", testing::PemOf({pki.intermediate().x509()}));
    testing::WriteFileOrDie(dir + "/int.key", testing::PemOf(pki.intermediate().key.get()));
    testing::WriteFileOrDie(dir + "/roots.pem", pki.BundlePem());
    common.insert(common.end(),
                  {"--plugin_ca_cert=" + dir + "/int.pem", "--plugin_ca_key=" + dir + "/int.key",
                   "--plugin_root_bundle=" + dir + "/roots.pem"});
  } else {
    // A fixed 32-byte KEK: a benchmark's keys protect nothing.
    std::string kek(32, '\0');
    for (size_t i = 0; i < kek.size(); ++i) kek[i] = static_cast<char>(i * 11 + 3);
    testing::WriteFileOrDie(dir + "/kek", kek);
    if (::chmod((dir + "/kek").c_str(), 0400) != 0) Fatal("chmod 0400 " + dir + "/kek");
    etcd_ca.push_back("--ca_kek_file=" + dir + "/kek");
  }
  absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd = EtcdCluster::Start(dir + "/etcd", 3);
  Cleanups().push_back([dir] { std::filesystem::remove_all(dir); });
  if (!etcd.ok()) Fatal("etcd: " + etcd.status().ToString());
  Cleanups().push_back([&etcd] { etcd->reset(); });
  std::vector<std::string> etcd_flags = common;
  etcd_flags.push_back("--store=etcd");
  etcd_flags.push_back("--etcd_endpoints=" + (*etcd)->Endpoints());
  etcd_flags.insert(etcd_flags.end(), etcd_ca.begin(), etcd_ca.end());
  // CleanUp stops the replicas (then removes their directories) on a fatal
  // error and at the end, before etcd.
  std::unique_ptr<ControlProcess> file, e1, e2, e3;
  Cleanups().push_back([&] {
    e3.reset();
    e2.reset();
    e1.reset();
    file.reset();
    for (const std::string& d : ReplicaDirs()) std::filesystem::remove_all(d);
  });
  file = StartOrDie(testing::MakeTempDir("control-replicas-file"), common);
  e1 = StartOrDie(testing::MakeTempDir("control-replicas-e1"), etcd_flags);
  e2 = StartOrDie(testing::MakeTempDir("control-replicas-e2"), etcd_flags);
  const Config configs[2] = {{"file, 1 replica", {file.get()}},
                             {"etcd, 2 replicas", {e1.get(), e2.get()}}};

  // Credentials: one per client and one for the watchers, per configuration
  // (bootstrapped through that configuration's first replica).
  std::vector<Svid> load_svids[2];
  Svid watcher_svid[2];
  for (int k = 0; k < 2; ++k) {
    for (int c = 0; c < clients; ++c) {
      load_svids[k].push_back(
          BootstrapOrDie(*configs[k].replicas[0], absl::StrCat(kTd, "load-", c)));
    }
    watcher_svid[k] = BootstrapOrDie(*configs[k].replicas[0], absl::StrCat(kTd, "watcher"));
  }

  std::vector<double> rate[2];
  int refused[2] = {0, 0};
  for (int r = 0; r < rounds; ++r) {
    for (int j = 0; j < 2; ++j) {
      const int k = (r + j) % 2;  // alternate which goes first
      rate[k].push_back(IssuanceRound(configs[k], load_svids[k], round_time, &refused[k]));
      std::printf("round %d %-17s %.1f issuances/s\n", r + 1, configs[k].name.c_str(),
                  rate[k].back());
      std::fflush(stdout);
    }
  }

  std::vector<double> propagation[2], cli[2], after_cli[2];
  int missed[2] = {0, 0};
  for (int i = 0; i < revocations; ++i) {
    for (int j = 0; j < 2; ++j) {
      const int k = (i + j) % 2;
      // A victim that holds a certificate (a deny-list entry lasts until its
      // last certificate expires, so an identity never issued has none).
      const std::string victim = absl::StrCat(kTd, "victim-", k, "-", i);
      BootstrapOrDie(*configs[k].replicas.back(), victim);
      double cli_ms = 0;
      const double ms = PropagationMs(configs[k], watcher_svid[k], victim, watchers, &cli_ms);
      cli[k].push_back(cli_ms);
      if (ms < 0) {
        ++missed[k];
      } else {
        propagation[k].push_back(ms);
        after_cli[k].push_back(ms - cli_ms);
      }
      std::printf("deregister %2d %-17s %.1f ms (CLI returned after %.1f ms)\n", i + 1,
                  configs[k].name.c_str(), ms, cli_ms);
      std::fflush(stdout);
    }
  }
  // Streams held across three replicas on etcd (a third one joins now).
  const int hold = quick ? 50 : absl::GetFlag(FLAGS_hold_streams);
  std::vector<Held> held;
  if (hold > 0) {
    e3 = StartOrDie(testing::MakeTempDir("control-replicas-e3"), etcd_flags);
    held = HoldStreams({e1.get(), e2.get(), e3.get()}, hold);
  }
  const std::string load_after = LoadAverage();

  std::printf("\nCA: %s\n", ca == "plugin" ? "one plug-in CA" : "self-managed (shared in etcd)");
  std::printf("control_replicas: %d clients, %d x %s rounds; %d watchers, %d de-registrations\n",
              clients, rounds, absl::FormatDuration(round_time).c_str(), watchers, revocations);
  std::printf("%-36s %-24s %-24s %s\n", "", configs[0].name.c_str(), configs[1].name.c_str(),
              "etcd/file");
  const double r0 = Percentile(rate[0], 0.5), r1 = Percentile(rate[1], 0.5);
  std::printf("%-36s %-24s %-24s %.2f\n", "issuances/s median (min..max)", Summary(rate[0]).c_str(),
              Summary(rate[1]).c_str(), r0 > 0 ? r1 / r0 : 0.0);
  for (double p : {0.5, 0.99}) {
    const double a = Percentile(propagation[0], p), b = Percentile(propagation[1], p);
    std::printf(
        "%-36s %-24s %-24s %.2f\n",
        absl::StrFormat("revocation propagation p%d, ms", static_cast<int>(p * 100)).c_str(),
        absl::StrFormat("%.1f", a).c_str(), absl::StrFormat("%.1f", b).c_str(),
        a > 0 ? b / a : 0.0);
  }
  std::printf("%-36s %-24s %-24s\n", "  of which the CLI call, median ms",
              absl::StrFormat("%.1f", Percentile(cli[0], 0.5)).c_str(),
              absl::StrFormat("%.1f", Percentile(cli[1], 0.5)).c_str());
  std::printf(
      "%-36s %-24s %-24s\n", "  last stream after CLI returned p50/p99",
      absl::StrFormat("%.1f / %.1f", Percentile(after_cli[0], 0.5), Percentile(after_cli[0], 0.99))
          .c_str(),
      absl::StrFormat("%.1f / %.1f", Percentile(after_cli[1], 0.5), Percentile(after_cli[1], 0.99))
          .c_str());
  std::printf("%-36s %-24d %-24d\n", "refused streams / missed revocations", refused[0] + missed[0],
              refused[1] + missed[1]);
  if (!held.empty()) {
    int total = 0;
    std::string per;
    for (size_t i = 0; i < held.size(); ++i) {
      total += std::max(0, held[i].with_bundle);
      absl::StrAppend(&per, i == 0 ? "" : " + ", held[i].with_bundle,
                      absl::StrFormat(" (%.0f MiB)", held[i].rss_mib));
    }
    std::printf("streams held, 3 etcd replicas x %d requested: %s = %d\n", hold, per.c_str(),
                total);
    for (const Held& h : held) {
      if (h.with_bundle != hold) std::printf("  control_load: %s\n", h.line.c_str());
    }
  }
  std::printf("load average before: %s, after: %s (2 cores, shared)\n", load_before.c_str(),
              load_after.c_str());
  std::fflush(stdout);
  CleanUp();
  return (missed[0] + missed[1] + refused[0] + refused[1]) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace palisade::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // ControlProcess starts control/palisade-control relative to the working
  // directory, as in a test: run from this binary's runfiles.
  const char* runfiles = getenv("RUNFILES_DIR");
  const std::string root =
      runfiles != nullptr ? std::string(runfiles) : std::string(argv[0]) + ".runfiles";
  if (chdir((root + "/palisade").c_str()) != 0) {
    std::fprintf(stderr, "cannot enter the runfiles %s/palisade\n", root.c_str());
    return 1;
  }
  return palisade::bench::Run();
}
