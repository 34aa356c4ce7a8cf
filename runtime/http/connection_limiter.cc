#include "runtime/http/connection_limiter.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "runtime/log/logging.h"
#include "runtime/sync/mutex.h"

namespace palisade::http {
namespace {

// How often connections that evhttp has freed are forgotten; at the cap,
// more often, since that is how soon the server accepts again after one ends.
constexpr timeval kSweepInterval = {0, 200 * 1000};
constexpr timeval kSweepIntervalAtCap = {0, 20 * 1000};
constexpr absl::Duration kLogInterval = absl::Seconds(10);
// After a failed accept (out of descriptors, most likely): the listening
// socket stays readable, and retrying at once would spin.
constexpr timeval kAcceptRetry = {0, 100 * 1000};

// evconnlistener's error callback is handed evhttp's argument (the evhttp),
// not ours: this maps one to the other.
struct Registry {
  sync::Mutex mutex;
  std::map<const evhttp*, ConnectionLimiter*> by_http ABSL_GUARDED_BY(mutex);
};
Registry& TheRegistry() {
  static auto* registry = new Registry;
  return *registry;
}

}  // namespace

// One accepted connection. evhttp owns the bufferevent and frees it when the
// connection ends; our own reference keeps it, and its descriptor, until
// Sweep() sees that evhttp is done with it. The bufferevent is made with
// BEV_OPT_CLOSE_ON_FREE so that evhttp only shuts the socket down and the
// last reference closes it after deleting its events: were evhttp to close
// it while its events stay registered (libevent 2.1's evhttp_connection_free
// does not delete them), Sweep's epoll_ctl() would act on a descriptor
// number another thread may have been given meanwhile.
struct ConnectionLimiter::Connection {
  ConnectionLimiter* owner = nullptr;
  bufferevent* bev = nullptr;
  struct event* deadline = nullptr;
  bool reading = true;  // a request is on its way: its deadline runs

  // bufferevent_free() clears the callbacks, and evhttp always sets an event
  // callback on a connection it still owns.
  bool Alive() const {
    bufferevent_data_cb read_cb, write_cb;
    bufferevent_event_cb event_cb = nullptr;
    void* arg;
    bufferevent_getcb(bev, &read_cb, &write_cb, &event_cb, &arg);
    return event_cb != nullptr;
  }

  void StartDeadline() {
    reading = true;
    const timeval tv = absl::ToTimeval(owner->limits_.request_deadline);
    evtimer_add(deadline, &tv);
  }

  // Called by the input buffer whenever bytes arrive: the first byte of a
  // new request on a kept-alive connection starts its deadline.
  static void OnInput(evbuffer*, const evbuffer_cb_info* info, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    if (info->n_added > 0 && !c->reading && c->Alive()) c->StartDeadline();
  }
};

size_t ConnectionLimiter::DefaultMaxConnections() {
  rlimit limit;
  const rlim_t fds = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? limit.rlim_cur : 1024;
  return static_cast<size_t>(std::clamp<rlim_t>(fds / 32, 4, 64));
}

ConnectionLimiter::ConnectionLimiter(event_base* base, ConnectionLimits limits)
    : limits_(std::move(limits)),
      max_connections_(limits_.max_connections > 0 ? limits_.max_connections
                                                   : DefaultMaxConnections()),
      sweep_timer_(event_new(base, -1, EV_PERSIST, &ConnectionLimiter::OnSweepTimer, this)),
      accept_retry_timer_(evtimer_new(base, &ConnectionLimiter::OnAcceptRetry, this)) {}

ConnectionLimiter::~ConnectionLimiter() {
  if (http_ != nullptr) {
    Registry& registry = TheRegistry();
    sync::MutexLock lock(&registry.mutex);
    registry.by_http.erase(http_);
  }
  if (sweep_timer_ != nullptr) event_free(sweep_timer_);
  sweep_timer_ = nullptr;
  if (accept_retry_timer_ != nullptr) event_free(accept_retry_timer_);
  paused_ = false;  // the listener went with evhttp_free()
  Sweep();          // and so did every connection
}

void ConnectionLimiter::Install(evhttp* http, evhttp_bound_socket* bound) {
  bound_ = bound;
  http_ = http;
  evhttp_set_bevcb(http, &ConnectionLimiter::OnNewConnection, this);
  {
    Registry& registry = TheRegistry();
    sync::MutexLock lock(&registry.mutex);
    registry.by_http[http] = this;
  }
  evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound),
                              &ConnectionLimiter::OnAcceptError);
}

bufferevent* ConnectionLimiter::OnNewConnection(event_base* base, void* arg) {
  auto* self = static_cast<ConnectionLimiter*>(arg);
  // Finished connections give their descriptors back first.
  self->Sweep();
  bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev == nullptr) return nullptr;  // evhttp then makes its own (out of memory)
  auto c = std::make_unique<Connection>();
  c->owner = self;
  c->bev = bev;
  c->deadline = evtimer_new(base, &ConnectionLimiter::OnDeadline, c.get());
  if (c->deadline == nullptr) {
    bufferevent_free(bev);
    return nullptr;
  }
  bufferevent_incref(bev);
  evbuffer_add_cb(bufferevent_get_input(bev), &Connection::OnInput, c.get());
  c->StartDeadline();  // the first request's deadline runs from accept
  self->connections_.push_back(std::move(c));
  self->open_ = self->connections_.size();
  ++self->accepted_;
  if (!evtimer_pending(self->sweep_timer_, nullptr))
    evtimer_add(self->sweep_timer_, &kSweepInterval);
  if (self->connections_.size() >= self->max_connections_ && !self->paused_ &&
      self->bound_ != nullptr) {
    // evconnlistener checks between accepts: no further one in this batch.
    evconnlistener_disable(evhttp_bound_socket_get_listener(self->bound_));
    self->paused_ = true;
    evtimer_add(self->sweep_timer_, &kSweepIntervalAtCap);
    self->Note(ConnectionEvent::kCapReached);
  }
  return bev;
}

void ConnectionLimiter::OnRequestRead(evhttp_request* request) {
  evhttp_connection* evcon = evhttp_request_get_connection(request);
  bufferevent* bev = evcon != nullptr ? evhttp_connection_get_bufferevent(evcon) : nullptr;
  for (const std::unique_ptr<Connection>& c : connections_) {
    if (c->bev != bev) continue;
    c->reading = false;
    evtimer_del(c->deadline);
    // Pipelined bytes already wait: the next request is on its way.
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) c->StartDeadline();
    return;
  }
}

void ConnectionLimiter::OnDeadline(int, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  // Alive() first: once evhttp has freed the connection its descriptor
  // number may belong to someone else.
  if (!c->reading || !c->Alive()) return;
  const int fd = bufferevent_getfd(c->bev);
  if (fd < 0) return;
  c->reading = false;
  // Counted before the client can see the close.
  c->owner->Note(ConnectionEvent::kRequestDeadlineClosed);
  // evhttp reads EOF and frees the connection itself.
  shutdown(fd, SHUT_RDWR);
}

void ConnectionLimiter::OnSweepTimer(int, short, void* arg) {
  auto* self = static_cast<ConnectionLimiter*>(arg);
  self->Sweep();
  if (self->connections_.empty()) evtimer_del(self->sweep_timer_);
}

void ConnectionLimiter::OnAcceptError(evconnlistener* listener, void* http) {
  const int error = errno;
  ConnectionLimiter* self = nullptr;
  {
    Registry& registry = TheRegistry();
    sync::MutexLock lock(&registry.mutex);
    auto it = registry.by_http.find(static_cast<const evhttp*>(http));
    if (it != registry.by_http.end()) self = it->second;
  }
  if (self == nullptr) return;
  evconnlistener_disable(listener);
  evtimer_add(self->accept_retry_timer_, &kAcceptRetry);
  ++self->accept_errors_;
  const absl::Time now = absl::Now();
  if (now - self->last_accept_log_ < kLogInterval) return;
  self->last_accept_log_ = now;
  log::Log(log::Level::kWarn, "HTTP server cannot accept; retrying in 100 ms",
           {{"server", self->limits_.name},
            {"error", std::strerror(error)},
            {"accept_errors_total", self->accept_errors_.load()}});
}

void ConnectionLimiter::OnAcceptRetry(int, short, void* arg) {
  auto* self = static_cast<ConnectionLimiter*>(arg);
  if (!self->paused_) evconnlistener_enable(evhttp_bound_socket_get_listener(self->bound_));
}

void ConnectionLimiter::Sweep() {
  auto dead = std::partition(connections_.begin(), connections_.end(),
                             [](const std::unique_ptr<Connection>& c) { return c->Alive(); });
  for (auto it = dead; it != connections_.end(); ++it) {
    Connection& c = **it;
    event_free(c.deadline);
    evbuffer_remove_cb(bufferevent_get_input(c.bev), &Connection::OnInput, &c);
    // bufferevent_free() left its events registered while we held a
    // reference; the descriptor is still ours: the events go, then the
    // last reference closes it.
    bufferevent_disable(c.bev, EV_READ | EV_WRITE);
    bufferevent_decref(c.bev);
  }
  connections_.erase(dead, connections_.end());
  open_ = connections_.size();
  if (paused_ && connections_.size() < max_connections_) {
    evconnlistener_enable(evhttp_bound_socket_get_listener(bound_));
    paused_ = false;
    if (sweep_timer_ != nullptr) evtimer_add(sweep_timer_, &kSweepInterval);
  }
}

void ConnectionLimiter::Note(ConnectionEvent e) {
  ++(e == ConnectionEvent::kCapReached ? cap_reached_ : deadline_closed_);
  if (limits_.observer) limits_.observer(e);
  ++unlogged_;
  const absl::Time now = absl::Now();
  if (now - last_log_ < kLogInterval) return;
  last_log_ = now;
  log::Log(log::Level::kWarn, "HTTP server sheds connections",
           {{"server", limits_.name},
            {"events_since_last_log", unlogged_},
            {"max_connections", max_connections_},
            {"cap_reached_total", cap_reached_.load()},
            {"request_deadline_closed_total", deadline_closed_.load()},
            {"request_deadline", absl::FormatDuration(limits_.request_deadline)}});
  unlogged_ = 0;
}

ConnectionStats ConnectionLimiter::stats() const {
  return ConnectionStats{open_.load(), accepted_.load(), cap_reached_.load(),
                         deadline_closed_.load(), accept_errors_.load()};
}

}  // namespace palisade::http
