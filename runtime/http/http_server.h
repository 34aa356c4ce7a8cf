// A small HTTP server for admin endpoints: libevent's evhttp (a maintained
// HTTP/1.1 parser) on its own event loop thread, with exact-path routes.
#ifndef PALISADE_RUNTIME_HTTP_HTTP_SERVER_H_
#define PALISADE_RUNTIME_HTTP_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/event/event_loop.h"
#include "runtime/http/connection_limiter.h"
#include "runtime/net/socket_address.h"

struct evhttp;
struct evhttp_request;

namespace palisade::http {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpRequest {
  std::string method;  // "GET", "POST"
  std::string path;
  std::string query;  // raw, without '?'
  std::string body;
  // Every header as sent, names in lower case, in order; a name may repeat.
  std::vector<std::pair<std::string, std::string>> headers;

  // The values of header `lower_case_name`, in order.
  std::vector<std::string> HeaderValues(const std::string& lower_case_name) const;
};

// Handlers run on the server's own thread, one at a time. At most
// `limits.max_connections` connections at once; each request must arrive
// within `limits.request_deadline`; an idle keep-alive connection closes
// after 30 s (evhttp's own timeout, which also bounds each read and write).
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit HttpServer(ConnectionLimits limits = {}) : limits_(std::move(limits)) {}

  // Registers before Start().
  void Route(const std::string& method, const std::string& path, Handler handler);
  absl::Status Start(const net::SocketAddress& address);
  ~HttpServer();

  net::SocketAddress address() const { return bound_; }
  // Any thread; zero before Start().
  ConnectionStats connection_stats() const;
  // The cap in force; meaningful after Start().
  size_t max_connections() const;

 private:
  static void OnRequest(evhttp_request* request, void* arg);

  std::map<std::pair<std::string, std::string>, Handler> routes_;
  ConnectionLimits limits_;
  std::unique_ptr<event::EventLoop> loop_;
  std::unique_ptr<ConnectionLimiter> limiter_;
  evhttp* http_ = nullptr;
  net::SocketAddress bound_;
  std::thread thread_;
};

}  // namespace palisade::http

#endif  // PALISADE_RUNTIME_HTTP_HTTP_SERVER_H_
