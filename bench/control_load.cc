// How many proxy streams one palisade-control holds: opens N mTLS identity
// streams to a running server, each completing Hello and receiving its trust
// bundle, holds them, and reports the server's RSS and CPU as it goes.
//
//   palisade-control serve --trust_domain=example.org --state_dir=/tmp/s \
//       --listen=127.0.0.1:15012 --admin=127.0.0.1:15013 &
//   bazel-bin/bench/control_load --address=127.0.0.1:15012 --admin=127.0.0.1:15013 \
//       --bundle_file=/tmp/s/bundle.pem --streams=6000 --server_pid=$!
//
// It bootstraps one SVID with a join token made through the admin API and
// presents it on every stream (a renewal stream, as proxies hold them). TLS
// and the socketpair pumps run on a few event loops; gRPC runs each stream
// on its callback API, so the tool needs no thread per stream. Each stream
// costs this process three descriptors (TCP, socketpair): run several
// instances for more than about 6,000.
#include <grpcpp/grpcpp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/admin/admin_client.h"
#include "control/admin/admin_token.h"
#include "identity/authz_policy.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/svid_verifier.h"
#include "identity/trust_bundle.h"
#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/plain_transport.h"
#include "runtime/net/pump.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "runtime/sync/mutex.h"
#include "runtime/tls/context_setup.h"
#include "runtime/tls/tls_dialer.h"
#include "runtime/tls/tls_transport.h"

ABSL_FLAG(std::string, address, "127.0.0.1:15012", "palisade-control's identity port.");
ABSL_FLAG(std::string, admin, "127.0.0.1:15013", "Its admin API (to make a join token).");
ABSL_FLAG(std::string, bundle_file, "", "Its bundle.pem (verifies the server).");
ABSL_FLAG(std::string, admin_token_file, "",
          "Its admin credential (default: admin.token beside --bundle_file, in the state dir).");
ABSL_FLAG(std::string, trust_domain, "example.org", "The trust domain.");
ABSL_FLAG(int, streams, 1000, "Streams to open and hold.");
ABSL_FLAG(int, in_flight, 64, "Connections being set up at once.");
ABSL_FLAG(int, loops, 2, "Event loop threads for TLS.");
ABSL_FLAG(absl::Duration, hold, absl::Seconds(10), "How long to hold the streams at the end.");
ABSL_FLAG(int, server_pid, 0, "palisade-control's PID, to report its RSS and CPU.");
ABSL_FLAG(int, report_every, 1000, "Print progress every this many streams.");

namespace palisade::bench {
namespace {

namespace v1 = control::v1;

struct ServerUsage {
  double rss_mib = 0;
  double cpu_seconds = 0;
  int threads = 0;
};

ServerUsage UsageOf(int pid) {
  ServerUsage usage;
  if (pid <= 0) return usage;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_mib = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("Threads:", 0) == 0) usage.threads = std::stoi(line.substr(8));
  }
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 > text.size()) return usage;  // gone
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  usage.cpu_seconds =
      static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return usage;
}

double OwnRssMib() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

// One stream's transport, on one loop: the runtime's TLS dialer (the server
// must present the control plane's SVID), then a socketpair pump whose other
// end gRPC speaks on.
class Tunnel {
 public:
  using Ready = std::function<void(Tunnel*, int grpc_fd, const std::string& error)>;
  Tunnel(event::EventLoop* loop, tls::TlsDialer::Options options, Ready ready)
      : loop_(loop),
        ready_(std::move(ready)),
        dialer_(loop, std::move(options),
                [this](absl::StatusOr<tls::TlsDialer::Dialed> d) { OnDialed(std::move(d)); }) {}
  ~Tunnel() {
    pump_.reset();
    up_watch_.reset();
    down_watch_.reset();
  }

  void Start() { dialer_.Start(); }

 private:
  void OnDialed(absl::StatusOr<tls::TlsDialer::Dialed> dialed) {
    if (!dialed.ok()) return ready_(this, -1, std::string(dialed.status().message()));
    tls_ = std::move(dialed->transport);
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
      return ready_(this, -1, "socketpair failed (descriptor limit?)");
    }
    local_ = std::make_unique<net::PlainTransport>(net::UniqueFd(pair[0]));
    pump_ = std::make_unique<net::Pump>(
        loop_, local_.get(), tls_.get(), net::Pump::Options{},
        net::Pump::Callbacks{[this] { EndLocal(); },
                             [this](net::Side, const std::string&) { EndLocal(); }});
    down_watch_ = std::make_unique<event::FdWatcher>(loop_, pair[0], [this](bool r, bool w) {
      pump_->OnReadiness(net::Side::kDownstream, r, w);
    });
    up_watch_ = std::make_unique<event::FdWatcher>(loop_, tls_->fd(), [this](bool r, bool w) {
      pump_->OnReadiness(net::Side::kUpstream, r, w);
    });
    pump_->Start();
    ready_(this, pair[1], "");
  }

  // The TLS side ended (the server closed, or an error): gRPC must see the
  // end too, or its stream waits for ever and is never counted as ended.
  void EndLocal() {
    if (local_ != nullptr) ::shutdown(local_->fd(), SHUT_RDWR);
  }

  event::EventLoop* loop_;
  Ready ready_;
  tls::TlsDialer dialer_;
  std::unique_ptr<tls::TlsTransport> tls_;
  std::unique_ptr<net::PlainTransport> local_;
  std::unique_ptr<event::FdWatcher> up_watch_;
  std::unique_ptr<event::FdWatcher> down_watch_;
  std::unique_ptr<net::Pump> pump_;
};

// One Watch stream: Hello, then count the first bundle.
class Stream final : public grpc::ClientBidiReactor<v1::WatchRequest, v1::WatchResponse> {
 public:
  Stream(int fd, std::atomic<int>* bundled, std::atomic<int>* ended)
      : bundled_(bundled), ended_(ended) {
    channel_ = grpc::CreateInsecureChannelFromFd("control-load", fd);
    stub_ = v1::IdentityService::NewStub(channel_);
    hello_.mutable_hello()->set_instance_name("load");
    hello_.mutable_hello()->set_version("control_load");
    stub_->async()->Watch(&context_, this);
    StartWrite(&hello_);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (response_.has_bundle() && !counted_) {
      counted_ = true;
      bundled_->fetch_add(1);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    ended_->fetch_add(1);
    done_.Notify();
  }
  void Cancel() { context_.TryCancel(); }
  void Wait() { done_.WaitForNotificationWithTimeout(absl::Seconds(30)); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IdentityService::Stub> stub_;
  grpc::ClientContext context_;
  v1::WatchRequest hello_;
  v1::WatchResponse response_;
  bool counted_ = false;
  grpc::Status status_;
  std::atomic<int>* bundled_;
  std::atomic<int>* ended_;
  sync::Notification done_;
};

int Run() {
  rlimit limit;
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  signal(SIGPIPE, SIG_IGN);
  const std::string td = absl::GetFlag(FLAGS_trust_domain);

  // One SVID for every stream, bootstrapped with a join token.
  std::string token_file = absl::GetFlag(FLAGS_admin_token_file);
  if (token_file.empty()) {
    const std::string bundle = absl::GetFlag(FLAGS_bundle_file);
    const size_t slash = bundle.rfind('/');
    token_file = (slash == std::string::npos ? "." : bundle.substr(0, slash)) + "/" +
                 control::admin::kAdminTokenFile;
  }
  absl::StatusOr<std::string> admin_token = control::admin::ReadAdminToken(token_file);
  if (!admin_token.ok()) {
    std::cerr << admin_token.status().message() << "\n";
    return 1;
  }
  auto made = control::admin::AdminRequest(
      absl::GetFlag(FLAGS_admin), "POST", "/api/v1/tokens",
      nlohmann::json{{"spiffe_id", absl::StrCat("spiffe://", td, "/load/proxy")},
                     {"single_use", true}}
          .dump(),
      *admin_token);
  if (!made.ok() || made->status != 200) {
    std::cerr << "cannot create a join token: "
              << (made.ok() ? made->body : made.status().ToString()) << "\n";
    return 1;
  }
  const std::string token = nlohmann::json::parse(made->body)["token"];
  std::ifstream bundle_in(absl::GetFlag(FLAGS_bundle_file));
  std::string bundle_pem((std::istreambuf_iterator<char>(bundle_in)),
                         std::istreambuf_iterator<char>());
  identity::TrustBundleSet::Builder builder;
  if (absl::Status s = builder.AddPem(td, bundle_pem); !s.ok()) {
    std::cerr << "--bundle_file: " << s << "\n";
    return 2;
  }
  const identity::TrustBundleSet bundles = builder.Build();
  const net::SocketAddress address = *net::SocketAddress::Parse(absl::GetFlag(FLAGS_address));

  std::vector<std::unique_ptr<event::EventLoop>> loops;
  std::vector<std::thread> threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_loops); ++i) {
    loops.push_back(*event::EventLoop::Create());
    event::EventLoop* loop = loops.back().get();
    threads.emplace_back([loop] { loop->Run(); });
  }
  // Every tunnel checks that the server is the control plane, under the bundle.
  const std::string server_id = absl::StrCat("spiffe://", td, "/palisade/control");
  const identity::AuthorizationPolicy expected =
      *identity::AuthorizationPolicy::Create({server_id}, {}, {});
  auto dial_options = [&](SSL_CTX* ctx) {
    tls::TlsDialer::Options options;
    options.target = *net::HostPort::Parse(address.ToString());
    options.name = absl::StrCat("palisade-control ", address.ToString());
    options.context = bssl::UpRef(ctx);
    options.bundles = bundles;
    options.expected = expected;
    options.expected_description = server_id;
    return options;
  };
  tls::ContextOptions client;
  client.role = tls::Role::kClient;
  client.alpn = std::string("\x02h2", 3);
  bssl::UniquePtr<SSL_CTX> bootstrap_ctx = *tls::NewContext(client);  // no certificate yet

  sync::Mutex mu;
  std::vector<std::unique_ptr<Tunnel>> tunnels;  // destroyed on their loops at the end
  std::vector<std::unique_ptr<Stream>> streams;
  std::atomic<int> bundled{0}, ended{0}, failed{0};
  int ready_fds_pending = 0;
  std::vector<int> ready_fds;
  std::string last_error;

  auto open = [&](SSL_CTX* ctx, int index) {
    event::EventLoop* loop = loops[index % loops.size()].get();
    loop->Post([&, loop, ctx] {
      auto tunnel = std::make_unique<Tunnel>(loop, dial_options(ctx),
                                             [&](Tunnel*, int fd, const std::string& error) {
                                               sync::MutexLock lock(&mu);
                                               if (fd < 0) {
                                                 failed.fetch_add(1);
                                                 last_error = error;
                                               } else {
                                                 ready_fds.push_back(fd);
                                               }
                                               --ready_fds_pending;
                                               mu.NotifyAll();
                                             });
      Tunnel* raw = tunnel.get();
      {
        sync::MutexLock lock(&mu);
        tunnels.push_back(std::move(tunnel));
      }
      raw->Start();
    });
  };

  // Bootstrap over a tunnel without a client certificate.
  {
    sync::MutexLock lock(&mu);
    ready_fds_pending = 1;
  }
  open(bootstrap_ctx.get(), 0);
  int boot_fd = -1;
  {
    sync::MutexLock lock(&mu);
    mu.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return ready_fds_pending == 0; },
                        absl::Seconds(10));
    if (ready_fds.empty()) {
      std::cerr << "bootstrap connection failed: " << last_error << "\n";
      return 1;
    }
    boot_fd = ready_fds.back();
    ready_fds.clear();
  }
  auto key = identity::GenerateP256Key();
  std::vector<bssl::UniquePtr<X509>> chain;
  {
    auto channel = grpc::CreateInsecureChannelFromFd("bootstrap", boot_fd);
    auto stub = v1::IdentityService::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->Watch(&context);
    v1::WatchRequest hello;
    hello.mutable_hello()->set_instance_name("load-bootstrap");
    hello.mutable_hello()->set_join_token(token);
    v1::WatchRequest csr;
    csr.mutable_csr()->set_csr_der(*identity::CreateCsrDer(
        key->get(), *identity::SpiffeId::Parse(absl::StrCat("spiffe://", td, "/load/proxy"))));
    stream->Write(hello);
    stream->Write(csr);
    v1::WatchResponse response;
    while (stream->Read(&response)) {
      if (!response.has_svid()) continue;
      for (const auto& der : response.svid().certificate_chain_der()) {
        chain.push_back(*identity::ParseDerCertificate(der));
      }
    }
    grpc::Status status = stream->Finish();
    if (chain.empty()) {
      std::cerr << "bootstrap refused: " << status.error_message() << "\n";
      return 1;
    }
  }
  // Every stream presents the SVID: a renewal stream, as proxies hold them.
  for (const auto& cert : chain) client.chain.push_back(cert.get());
  client.key = key->get();
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = tls::NewContext(client);
  if (!ctx.ok()) {
    std::cerr << "client SVID: " << ctx.status() << "\n";
    return 1;
  }

  const int target = absl::GetFlag(FLAGS_streams);
  const int in_flight = absl::GetFlag(FLAGS_in_flight);
  const ServerUsage base = UsageOf(absl::GetFlag(FLAGS_server_pid));
  std::printf("server before: rss=%.1f MiB cpu=%.2f s threads=%d\n", base.rss_mib, base.cpu_seconds,
              base.threads);
  const absl::Time start = absl::Now();
  int opened = 0;
  int next_report = absl::GetFlag(FLAGS_report_every);
  for (;;) {
    std::vector<int> fds;
    {
      sync::MutexLock lock(&mu);
      while (opened < target && ready_fds_pending < in_flight) {
        ++ready_fds_pending;
        open(ctx->get(), opened++);
      }
      mu.AwaitWithTimeout(
          [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return !ready_fds.empty() || ready_fds_pending == 0;
          },
          absl::Seconds(5));
      fds.swap(ready_fds);
      if (fds.empty() && ready_fds_pending == 0 && opened >= target) break;
    }
    for (int fd : fds) streams.push_back(std::make_unique<Stream>(fd, &bundled, &ended));
    if (bundled.load() >= next_report) {
      const ServerUsage u = UsageOf(absl::GetFlag(FLAGS_server_pid));
      std::printf(
          "%6d streams with bundle (%d failed) after %.1f s: server rss=%.1f MiB cpu=%.2f s\n",
          bundled.load(), failed.load(), absl::ToDoubleSeconds(absl::Now() - start), u.rss_mib,
          u.cpu_seconds - base.cpu_seconds);
      std::fflush(stdout);
      next_report += absl::GetFlag(FLAGS_report_every);
    }
  }
  // Wait for the last bundles.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (bundled.load() + ended.load() < static_cast<int>(streams.size()) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Duration setup = absl::Now() - start;
  const ServerUsage after_setup = UsageOf(absl::GetFlag(FLAGS_server_pid));
  absl::SleepFor(absl::GetFlag(FLAGS_hold));
  const ServerUsage held = UsageOf(absl::GetFlag(FLAGS_server_pid));
  std::printf(
      "RESULT streams_requested=%d streams_with_bundle=%d failed=%d ended_early=%d setup=%.1fs "
      "server_rss=%.1fMiB server_rss_per_stream=%.1fKiB server_cpu_setup=%.2fs "
      "server_cpu_idle_hold=%.2fs/%.0fs server_threads=%d load_tool_maxrss=%.1fMiB%s%s\n",
      target, bundled.load(), failed.load(), ended.load(), absl::ToDoubleSeconds(setup),
      held.rss_mib,
      bundled.load() > 0 ? (held.rss_mib - base.rss_mib) * 1024.0 / bundled.load() : 0.0,
      after_setup.cpu_seconds - base.cpu_seconds, held.cpu_seconds - after_setup.cpu_seconds,
      absl::ToDoubleSeconds(absl::GetFlag(FLAGS_hold)), held.threads, OwnRssMib(),
      last_error.empty() ? "" : " last_error=", last_error.c_str());
  std::fflush(stdout);
  for (auto& s : streams) s->Cancel();
  for (auto& s : streams) s->Wait();
  streams.clear();
  for (auto& loop : loops) loop->Stop();
  for (auto& t : threads) t.join();
  // Tunnels hold watchers on the (stopped) loops: destroy them before the loops.
  tunnels.clear();
  return 0;
}

}  // namespace
}  // namespace palisade::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return palisade::bench::Run();
}
