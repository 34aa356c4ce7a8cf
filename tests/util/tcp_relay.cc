#include "tests/util/tcp_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <list>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/loopback.h"

namespace palisade::testing {
namespace {

constexpr size_t kBufferBytes = 64 * 1024;
constexpr int kPollMillis = 100;

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

// One relayed connection: bytes read from one side wait in its buffer until
// the other side takes them; a side is not read while its buffer is full.
struct TcpRelay::Link {
  int fd[2] = {-1, -1};    // 0: the client, 1: the target
  std::string pending[2];  // read from fd[i], to be written to fd[1 - i]
  bool read_closed[2] = {false, false};
  uint16_t source_port = 0;
  bool dead = false;

  ~Link() {
    for (int f : fd) {
      if (f >= 0) close(f);
    }
  }
};

absl::StatusOr<std::unique_ptr<TcpRelay>> TcpRelay::Start(uint16_t target_port, RefuseFn refuse) {
  std::unique_ptr<TcpRelay> relay(new TcpRelay());
  relay->target_port_ = target_port;
  relay->refuse_ = std::move(refuse);
  relay->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (relay->listen_fd_ < 0) return absl::InternalError("relay: socket() failed");
  sockaddr_in addr = LoopbackAddress(0);
  socklen_t len = sizeof(addr);
  if (bind(relay->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(relay->listen_fd_, 64) != 0 ||
      getsockname(relay->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("relay: cannot listen on 127.0.0.1: errno ", errno));
  }
  relay->port_ = ntohs(addr.sin_port);
  SetNonBlocking(relay->listen_fd_);
  if (pipe2(relay->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError("relay: pipe2() failed");
  }
  relay->thread_ = std::thread([r = relay.get()] { r->Run(); });
  return relay;
}

TcpRelay::~TcpRelay() {
  stop_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  for (int f : {listen_fd_, wake_[0], wake_[1]}) {
    if (f >= 0) close(f);
  }
}

void TcpRelay::Wake() {
  const char byte = 1;
  (void)!write(wake_[1], &byte, 1);
}

void TcpRelay::Recheck() {
  const uint64_t ticket = ++recheck_asked_;
  Wake();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (recheck_done_.load() < ticket && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
}

void TcpRelay::Run() {
  std::list<Link> links;
  while (!stop_) {
    std::vector<pollfd> fds;
    std::vector<Link*> owners;  // fds[k] (k >= 2) belongs to owners[k - 2]
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (Link& link : links) {
      for (int side = 0; side < 2; ++side) {
        short events = 0;
        if (!link.read_closed[side] && link.pending[side].size() < kBufferBytes) events |= POLLIN;
        if (!link.pending[1 - side].empty()) events |= POLLOUT;
        fds.push_back({link.fd[side], events, 0});
        owners.push_back(&link);
      }
    }
    if (poll(fds.data(), fds.size(), kPollMillis) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (read(wake_[0], drain, sizeof(drain)) > 0) {
      }
    }
    // A rule change: ask it again for each established connection.
    // Answered once the refused connections are closed, below.
    const uint64_t asked = recheck_asked_.load();
    if (recheck_done_.load() < asked) {
      for (Link& link : links) {
        if (refuse_(link.source_port)) link.dead = true;
      }
    }
    if (fds[1].revents & POLLIN) {
      for (int n = 0; n < 16; ++n) {  // bounded per round
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        const int client =
            accept4(listen_fd_, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
        if (client < 0) break;
        if (refuse_(ntohs(from.sin_port))) {
          close(client);
          continue;
        }
        // The target is on loopback: a blocking connect is answered at once
        // (refused when nothing listens, and then the client is closed too).
        const int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in to = LoopbackAddress(target_port_);
        if (target < 0 || connect(target, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
          if (target >= 0) close(target);
          close(client);
          continue;
        }
        const int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(target, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        SetNonBlocking(client);
        SetNonBlocking(target);
        Link& link = links.emplace_back();
        link.fd[0] = client;
        link.fd[1] = target;
        link.source_port = ntohs(from.sin_port);
      }
    }
    for (size_t k = 2; k < fds.size(); ++k) {
      Link& link = *owners[k - 2];
      const int side = static_cast<int>((k - 2) % 2);
      if (link.dead) continue;
      const short revents = fds[k].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!link.read_closed[side] && link.pending[side].size() < kBufferBytes) {
          char buffer[16 * 1024];
          const ssize_t n = read(link.fd[side], buffer, sizeof(buffer));
          if (n > 0) {
            link.pending[side].append(buffer, static_cast<size_t>(n));
          } else if (n == 0) {
            link.read_closed[side] = true;
            if (link.pending[side].empty()) shutdown(link.fd[1 - side], SHUT_WR);
          } else if (errno != EAGAIN && errno != EINTR) {
            link.dead = true;
          }
        } else if (revents & POLLERR) {
          link.dead = true;
        }
      }
      if ((revents & POLLOUT) && !link.pending[1 - side].empty()) {
        std::string& out = link.pending[1 - side];
        const ssize_t n = send(link.fd[side], out.data(), out.size(), MSG_NOSIGNAL);
        if (n > 0) {
          out.erase(0, static_cast<size_t>(n));
          if (out.empty() && link.read_closed[1 - side]) shutdown(link.fd[side], SHUT_WR);
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          link.dead = true;
        }
      }
    }
    for (auto it = links.begin(); it != links.end();) {
      const bool done = it->read_closed[0] && it->read_closed[1] && it->pending[0].empty() &&
                        it->pending[1].empty();
      it = (it->dead || done) ? links.erase(it) : std::next(it);
    }
    connections_ = static_cast<int>(links.size());
    if (recheck_done_.load() < asked) recheck_done_ = asked;
  }
  // Also answers a Recheck() asked while stopping.
  recheck_done_ = recheck_asked_.load();
}

pid_t LoopbackClientOwner(uint16_t source_port, uint16_t dest_port,
                          const std::vector<pid_t>& pids) {
  // /proc/net/tcp: "sl local_address rem_address st ... uid timeout inode",
  // addresses as hex "0100007F:PORT".
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  std::string inode;
  char local[32], remote[32];
  std::snprintf(local, sizeof(local), "0100007F:%04X", source_port);
  std::snprintf(remote, sizeof(remote), "0100007F:%04X", dest_port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string sl, l, r, st, queues, timer, retransmits, uid, timeout, node;
    fields >> sl >> l >> r >> st >> queues >> timer >> retransmits >> uid >> timeout >> node;
    if (l == local && r == remote) {
      inode = node;
      break;
    }
  }
  if (inode.empty() || inode == "0") return -1;
  const std::string wanted = absl::StrCat("socket:[", inode, "]");
  for (pid_t pid : pids) {
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), error)) {
      std::error_code link_error;
      if (std::filesystem::read_symlink(entry.path(), link_error).string() == wanted) return pid;
    }
  }
  return -1;
}

}  // namespace palisade::testing
