#include "tests/util/echo_thread.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "runtime/net/sockets.h"

namespace palisade::testing {

EchoThread::EchoThread() {
  absl::StatusOr<net::UniqueFd> listener =
      net::BindListener(*net::SocketAddress::Parse("127.0.0.1:0"), false);
  if (!listener.ok()) std::abort();
  listener_ = *std::move(listener);
  fcntl(listener_.get(), F_SETFL, 0);  // a blocking accept on its own thread
  address_ = *net::LocalAddressOf(listener_.get());
  thread_ = std::thread([this] { Serve(); });
}

EchoThread::~EchoThread() {
  shutdown(listener_.get(), SHUT_RDWR);  // wakes the blocked accept
  thread_.join();
  for (std::thread& t : echoes_) t.join();
}

std::vector<std::string> EchoThread::peers() const {
  sync::MutexLock lock(&mu_);
  return peers_;
}

void EchoThread::Serve() {
  for (int i = 0; i < 1024; ++i) {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    {
      sync::MutexLock lock(&mu_);
      peers_.push_back(net::PeerAddressOf(fd)->ToString());
    }
    echoes_.emplace_back([fd] {
      char buffer[16384];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
        if (write(fd, buffer, n) != n) break;
      }
      close(fd);
    });
  }
}

}  // namespace palisade::testing
