// How many connections an HttpServer holds, and for how long a request may
// take to arrive: a cap (at it the server stops accepting, so waiting clients
// sit in the kernel's backlog and hold none of our descriptors) and an
// absolute deadline per request that a byte-at-a-time drip cannot extend.
#ifndef PALISADE_RUNTIME_HTTP_CONNECTION_LIMITER_H_
#define PALISADE_RUNTIME_HTTP_CONNECTION_LIMITER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

struct bufferevent;
struct event;
struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct evconnlistener;

namespace palisade::http {

enum class ConnectionEvent {
  kCapReached,            // the server stopped accepting until a connection ends
  kRequestDeadlineClosed  // a connection did not deliver its request in time
};

struct ConnectionLimits {
  // Connections held at once; 0: DefaultMaxConnections().
  size_t max_connections = 0;
  // From accept (first request) or a request's first byte (later ones on a
  // keep-alive connection) until the whole request, head and body, is read.
  absl::Duration request_deadline = absl::Seconds(10);
  // Names the server in logs ("admin", "public").
  std::string name = "admin";
  // Told of each event, on the server's loop thread (e.g. to count it).
  std::function<void(ConnectionEvent)> observer;
};

struct ConnectionStats {
  uint64_t open = 0;
  uint64_t accepted = 0;
  uint64_t cap_reached = 0;
  uint64_t request_deadline_closed = 0;
  // accept() failed (e.g. out of descriptors): the server pauses 100 ms
  // instead of retrying at once.
  uint64_t accept_errors = 0;
};

// Loop thread only, except stats().
class ConnectionLimiter {
 public:
  // 64, or 1/32 of RLIMIT_NOFILE where that is less (at least 4): an admin
  // server never takes more than a small share of the descriptors that the
  // process's real work (the proxy's data plane) needs.
  static size_t DefaultMaxConnections();

  ConnectionLimiter(event_base* base, ConnectionLimits limits);
  // Only after evhttp_free(): evhttp has then freed every connection.
  ~ConnectionLimiter();
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Makes every connection of `http` (accepting on `bound`) ours to watch.
  void Install(evhttp* http, evhttp_bound_socket* bound);
  // `request` was read in full; its connection's deadline stops.
  void OnRequestRead(evhttp_request* request);

  size_t max_connections() const { return max_connections_; }
  ConnectionStats stats() const;

 private:
  struct Connection;
  static bufferevent* OnNewConnection(event_base* base, void* arg);
  static void OnDeadline(int fd, short what, void* arg);
  static void OnSweepTimer(int fd, short what, void* arg);
  static void OnAcceptError(evconnlistener* listener, void* http);
  static void OnAcceptRetry(int fd, short what, void* arg);
  // Forgets the connections evhttp has freed; accepts again below the cap.
  void Sweep();
  void Note(ConnectionEvent e);

  const ConnectionLimits limits_;
  const size_t max_connections_;
  evhttp_bound_socket* bound_ = nullptr;
  evhttp* http_ = nullptr;
  struct event* sweep_timer_ = nullptr;
  struct event* accept_retry_timer_ = nullptr;
  bool paused_ = false;
  std::vector<std::unique_ptr<Connection>> connections_;
  absl::Time last_log_ = absl::InfinitePast();
  absl::Time last_accept_log_ = absl::InfinitePast();
  uint64_t unlogged_ = 0;

  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> cap_reached_{0};
  std::atomic<uint64_t> deadline_closed_{0};
  std::atomic<uint64_t> accept_errors_{0};
};

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_CONNECTION_LIMITER_H_
