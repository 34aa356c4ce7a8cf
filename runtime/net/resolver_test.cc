#include "runtime/net/resolver.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace palisade::net {
namespace {

// A real DNS server on loopback UDP (libevent's evdns server side): answers A
// questions with `answer`, and NXDOMAIN for names ending in ".missing".
// Counts the A questions it was asked.
class LoopbackDnsServer {
 public:
  explicit LoopbackDnsServer(event::EventLoop* loop) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in bind_to{};
    bind_to.sin_family = AF_INET;
    bind_to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&bind_to), sizeof(bind_to)), 0);
    socklen_t length = sizeof(bind_to);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&bind_to), &length);
    address_ = absl::StrCat("127.0.0.1:", ntohs(bind_to.sin_port));
    port_ = evdns_add_server_port_with_base(loop->base(), fd_, 0, &OnRequest, this);
  }
  ~LoopbackDnsServer() {
    if (port_ != nullptr) evdns_close_server_port(port_);
    close(fd_);
  }

  const std::string& address() const { return address_; }
  int a_questions() const { return a_questions_; }
  void set_answer(const std::string& ipv4) { inet_pton(AF_INET, ipv4.c_str(), &answer_); }

 private:
  static void OnRequest(evdns_server_request* request, void* arg) {
    auto* self = static_cast<LoopbackDnsServer*>(arg);
    int rcode = 0;
    for (int i = 0; i < request->nquestions; ++i) {
      const evdns_server_question* question = request->questions[i];
      if (question->type != EVDNS_TYPE_A) continue;  // AAAA: no records
      ++self->a_questions_;
      // evdns randomizes the letters' case (DNS 0x20), so compare without it.
      if (absl::EndsWithIgnoreCase(question->name, ".missing")) {
        rcode = 3;  // NXDOMAIN
        continue;
      }
      evdns_server_request_add_a_reply(request, question->name, 1, &self->answer_, /*ttl=*/300);
    }
    evdns_server_request_respond(request, rcode);
  }

  int fd_ = -1;
  std::string address_;
  evdns_server_port* port_ = nullptr;
  in_addr answer_{htonl(0x7f000101)};  // 127.0.1.1
  int a_questions_ = 0;
};

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { loop_ = std::move(event::EventLoop::Create()).value(); }

  // Runs the loop until `resolver` answers for `target` (at most 10 s).
  std::optional<absl::StatusOr<SocketAddress>> ResolveWith(Resolver& resolver,
                                                           const std::string& target) {
    std::optional<absl::StatusOr<SocketAddress>> answer;
    auto handle = resolver.Resolve(*HostPort::Parse(target), [&](auto result) {
      answer = std::move(result);
      loop_->Stop();
    });
    event::Timer guard(loop_.get(), [&] { loop_->Stop(); });
    guard.Arm(absl::Seconds(10));
    loop_->Run();
    return answer;
  }

  // The answer as "ip:port", or the error's text.
  std::string ResolveToText(Resolver& resolver, const std::string& target) {
    auto answer = ResolveWith(resolver, target);
    if (!answer.has_value()) return "no answer";
    if (!answer->ok()) return std::string(answer->status().message());
    return (*answer)->ToString();
  }

  std::optional<absl::StatusOr<SocketAddress>> ResolveNow(const std::string& target) {
    Resolver resolver(loop_.get());
    return ResolveWith(resolver, target);
  }

  std::unique_ptr<event::EventLoop> loop_;
};

TEST_F(ResolverTest, AnswersIpLiteralsWithoutALookup) {
  auto answer = ResolveNow("127.0.0.1:8443");
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_EQ((*answer)->ToString(), "127.0.0.1:8443");
}

TEST_F(ResolverTest, ResolvesLocalhostFromTheHostsFile) {
  auto answer = ResolveNow("localhost:9000");
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  EXPECT_TRUE((*answer)->IsLoopback()) << (*answer)->ToString();
  EXPECT_EQ((*answer)->port(), 9000);
}

TEST_F(ResolverTest, ReusesAnAnswerUntilItsTimeIsUp) {
  LoopbackDnsServer dns(loop_.get());
  Resolver resolver(loop_.get(), {absl::Seconds(1), {dns.address()}});
  EXPECT_EQ(ResolveToText(resolver, "payments.test:15006"), "127.0.1.1:15006");
  EXPECT_EQ(dns.a_questions(), 1);

  // The name moves; within the cache time the old answer serves, for any port.
  dns.set_answer("127.0.1.2");
  EXPECT_EQ(ResolveToText(resolver, "payments.test:443"), "127.0.1.1:443");
  EXPECT_EQ(dns.a_questions(), 1);

  // Kept as a sleep: the cache's lifetime is what is under test, and the
  // resolver reads the real clock (no clock to inject).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(ResolveToText(resolver, "payments.test:443"), "127.0.1.2:443");
  EXPECT_EQ(dns.a_questions(), 2);
}

TEST_F(ResolverTest, NeverKeepsAFailureAndAsksEveryTimeWithoutACache) {
  LoopbackDnsServer dns(loop_.get());
  Resolver cached(loop_.get(), {absl::Seconds(60), {dns.address()}});
  EXPECT_TRUE(absl::StrContains(ResolveToText(cached, "gone.missing:80"), "cannot resolve"));
  EXPECT_TRUE(absl::StrContains(ResolveToText(cached, "gone.missing:80"), "cannot resolve"));
  EXPECT_EQ(dns.a_questions(), 2);

  Resolver uncached(loop_.get(), {absl::ZeroDuration(), {dns.address()}});
  EXPECT_EQ(ResolveToText(uncached, "payments.test:1"), "127.0.1.1:1");
  EXPECT_EQ(ResolveToText(uncached, "payments.test:1"), "127.0.1.1:1");
  EXPECT_EQ(dns.a_questions(), 4);
}

TEST_F(ResolverTest, RequestsForANameBeingLookedUpShareThatLookup) {
  LoopbackDnsServer dns(loop_.get());
  Resolver resolver(loop_.get(), {absl::ZeroDuration(), {dns.address()}});
  std::vector<std::string> answers;
  auto record = [&](absl::StatusOr<SocketAddress> a) {
    answers.push_back(a.ok() ? a->ToString() : std::string(a.status().message()));
    if (answers.size() == 2) loop_->Stop();
  };
  auto first = resolver.Resolve(*HostPort::Parse("payments.test:1"), record);
  auto second = resolver.Resolve(*HostPort::Parse("payments.test:2"), record);
  auto dropped = resolver.Resolve(*HostPort::Parse("payments.test:3"), record);
  dropped.reset();  // its caller went away: no answer for it
  event::Timer guard(loop_.get(), [&] { loop_->Stop(); });
  guard.Arm(absl::Seconds(10));
  loop_->Run();
  EXPECT_THAT(answers, ::testing::UnorderedElementsAre("127.0.1.1:1", "127.0.1.1:2"));
  EXPECT_EQ(dns.a_questions(), 1);
}

TEST_F(ResolverTest, CancelledLookupNeverCallsBack) {
  LoopbackDnsServer dns(loop_.get());
  Resolver resolver(loop_.get(), {absl::Seconds(60), {dns.address()}});
  bool called = false;
  {
    auto literal = resolver.Resolve(*HostPort::Parse("127.0.0.1:1"), [&](auto) { called = true; });
    auto lookup =
        resolver.Resolve(*HostPort::Parse("payments.test:1"), [&](auto) { called = true; });
  }  // handles dropped: cancelled
  event::Timer stop(loop_.get(), [&] { loop_->Stop(); });
  stop.Arm(absl::Milliseconds(200));
  loop_->Run();
  EXPECT_FALSE(called);
  // A cached answer is cancelled the same way.
  EXPECT_EQ(ResolveToText(resolver, "payments.test:1"), "127.0.1.1:1");
  {
    auto cached =
        resolver.Resolve(*HostPort::Parse("payments.test:2"), [&](auto) { called = true; });
  }
  stop.Arm(absl::Milliseconds(50));
  loop_->Run();
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace palisade::net
