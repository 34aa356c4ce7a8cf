#include "runtime/net/acceptor.h"

#include <sys/socket.h>

#include <cerrno>

#include "runtime/net/sockets.h"

namespace palisade::net {

Acceptor::Acceptor(event::EventLoop* loop, int listen_fd, OnAccepted on_accepted,
                   OnRefused on_refused, Options options)
    : listen_fd_(listen_fd),
      options_(options),
      on_accepted_(std::move(on_accepted)),
      on_refused_(std::move(on_refused)),
      next_batch_(loop, [this] { AcceptBatch(); }),
      retry_(loop, [this] { AcceptBatch(); }),
      watcher_(loop, listen_fd, [this](bool readable, bool) {
        if (readable) AcceptBatch();
      }) {}

void Acceptor::Start() { AcceptBatch(); }

void Acceptor::AcceptBatch() {
  for (size_t i = 0; i < options_.batch; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Queued connections stay queued, and edge-triggered readiness will
        // not say so again: look once more shortly.
        on_refused_("fd_limit");
        if (!retry_.armed()) retry_.Arm(options_.retry);
      }
      return;  // EAGAIN: the queue is empty
    }
    SetNoDelay(fd);
    on_accepted_(UniqueFd(fd),
                 SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&peer), length));
  }
  next_batch_.Arm(absl::ZeroDuration());
}

}  // namespace palisade::net
