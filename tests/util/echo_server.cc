// A real TCP backend for tests and the demo: echoes bytes back (passing on
// half-close), or answers HTTP requests. It records every connection it
// accepts and how many bytes it got, so a test can prove a refused peer
// reached nothing. Thread per connection: simple, and enough for tests.
// SIGTERM (or SIGINT) ends it cleanly: live connections are shut down, their
// threads finish, and it exits 0, so tests can hold it to a clean exit.
//
//   echo_server --listen=127.0.0.1:0 --port_file=PATH [--record=PATH]
//   [--mode=echo|http|http_headers|sink]
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "runtime/net/socket_address.h"
#include "runtime/net/sockets.h"
#include "tests/util/http_header_echo.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address to listen on.");
ABSL_FLAG(std::string, port_file, "", "Write the bound port here once listening.");
ABSL_FLAG(std::string, record, "", "Append one line per accepted and per closed connection.");
ABSL_FLAG(std::string, mode, "echo",
          "echo: send every byte back; http: answer each request; sink: count bytes until "
          "EOF, then answer with the count; http_headers: answer each request with the "
          "headers it carried and its body's SHA-256.");
ABSL_FLAG(std::string, name, "backend", "Named in HTTP answers.");

namespace {

std::mutex record_mutex;

void Record(const std::string& line) {
  const std::string path = absl::GetFlag(FLAGS_record);
  if (path.empty()) return;
  std::lock_guard<std::mutex> lock(record_mutex);
  std::ofstream(path, std::ios::app) << line << "\n";
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= w;
  }
  return true;
}

void ServeEcho(int fd, uint64_t* bytes) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    *bytes += n;
    if (!WriteAll(fd, buf, n)) break;
  }
  shutdown(fd, SHUT_WR);  // pass the half-close on
}

void ServeSink(int fd, uint64_t* bytes) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    *bytes += n;
  }
  const std::string count = absl::StrCat(*bytes, "\n");
  WriteAll(fd, count.data(), count.size());
  shutdown(fd, SHUT_WR);
}

void ServeHttp(int fd, uint64_t* bytes) {
  std::string request;
  char buf[8192];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    *bytes += n;
    request.append(buf, n);
    size_t end;
    while ((end = request.find("\r\n\r\n")) != std::string::npos) {
      const std::string line = request.substr(0, request.find("\r\n"));
      request.erase(0, end + 4);
      const std::string body =
          absl::StrCat("hello from ", absl::GetFlag(FLAGS_name), " (", line, ")\n");
      const std::string response = absl::StrCat(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
          "\r\n\r\n", body);
      if (!WriteAll(fd, response.data(), response.size())) return;
    }
  }
}

// The connections being served, so that SIGTERM can end them and wait for
// their threads before exiting.
class Connections {
 public:
  void Add(int fd) {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.insert(fd);
    ++threads_;
  }
  // Called by a connection's thread when it is done with `fd`.
  void Close(int fd) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_.erase(fd);  // before close: the number may be reused at once
    }
    close(fd);
  }
  void ThreadDone() {
    std::lock_guard<std::mutex> lock(mutex_);
    --threads_;
    done_.notify_all();
  }
  // Shuts every open connection down; true once their threads have ended.
  bool EndAll(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
    return done_.wait_for(lock, timeout, [this] { return threads_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::set<int> open_;
  int threads_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // Blocked before any thread starts, so only the signalfd below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  const int stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  auto address = palisade::net::SocketAddress::Parse(absl::GetFlag(FLAGS_listen));
  if (!address.ok()) {
    std::cerr << address.status() << "\n";
    return 2;
  }
  auto listener = palisade::net::BindListener(*address, false);
  // Benchmarks hold thousands of connections.
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (!listener.ok()) {
    std::cerr << listener.status() << "\n";
    return 1;
  }
  const int lfd = listener->get();  // non-blocking: accepted only when poll says so
  const auto bound = palisade::net::LocalAddressOf(lfd);
  if (const std::string file = absl::GetFlag(FLAGS_port_file); !file.empty()) {
    std::ofstream(file + ".tmp") << bound->port() << "\n";
    std::rename((file + ".tmp").c_str(), file.c_str());
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  // Never destroyed (a detached thread may still be returning from it), and
  // held by a static so that LeakSanitizer sees it reachable.
  static Connections* const connections = new Connections;
  for (;;) {
    pollfd fds[2] = {{lfd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) break;
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    const int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Record(absl::StrCat("accept ", palisade::net::SocketAddress::FromSockaddr(
                                       reinterpret_cast<sockaddr*>(&peer), len)
                                       .ToString()));
    connections->Add(fd);
    std::thread([fd, mode] {
      uint64_t bytes = 0;
      if (mode == "http") {
        ServeHttp(fd, &bytes);
      } else if (mode == "http_headers") {
        palisade::testing::ServeHttpHeaderEcho(fd, &bytes);
      } else if (mode == "sink") {
        ServeSink(fd, &bytes);
      } else {
        ServeEcho(fd, &bytes);
      }
      connections->Close(fd);
      Record(absl::StrCat("close bytes=", bytes));
      connections->ThreadDone();
    }).detach();
  }
  if (!connections->EndAll(std::chrono::seconds(5))) {
    std::cerr << "connections did not end within 5 s of the stop signal\n";
    return 1;
  }
  return 0;
}
