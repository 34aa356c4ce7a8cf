#include "runtime/http/http_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/net/sockets.h"
#include "runtime/status/status_macros.h"

namespace palisade::http {
namespace {

const char* MethodName(evhttp_cmd_type type) {
  switch (type) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    default:
      return "OTHER";
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 415:
      return "Unsupported Media Type";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

}  // namespace

std::vector<std::string> HttpRequest::HeaderValues(const std::string& lower_case_name) const {
  std::vector<std::string> values;
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) values.push_back(value);
  }
  return values;
}

void HttpServer::Route(const std::string& method, const std::string& path, Handler handler) {
  routes_[{method, path}] = std::move(handler);
}

absl::Status HttpServer::Start(const net::SocketAddress& address) {
  ASSIGN_OR_RETURN(loop_, event::EventLoop::Create());
  ASSIGN_OR_RETURN(net::UniqueFd socket, net::BindListener(address, /*reuse_port=*/false, 128));
  ASSIGN_OR_RETURN(bound_, net::LocalAddressOf(socket.get()));
  http_ = evhttp_new(loop_->base());
  if (http_ == nullptr) return absl::InternalError("evhttp_new failed");
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
  evhttp_set_max_body_size(http_, 64 * 1024);
  evhttp_set_max_headers_size(http_, 16 * 1024);
  evhttp_set_timeout(http_, 30);
  evhttp_set_gencb(http_, &HttpServer::OnRequest, this);
  evhttp_bound_socket* bound = evhttp_accept_socket_with_handle(http_, socket.Release());
  if (bound == nullptr) return absl::InternalError("evhttp_accept_socket failed");
  limiter_ = std::make_unique<ConnectionLimiter>(loop_->base(), limits_);
  limiter_->Install(http_, bound);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "palisade-admin");
    loop_->Run();
  });
  return absl::OkStatus();
}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    loop_->Stop();
    thread_.join();
  }
  if (http_ != nullptr) evhttp_free(http_);
  limiter_.reset();  // after evhttp_free(), before the loop goes
}

ConnectionStats HttpServer::connection_stats() const {
  return limiter_ != nullptr ? limiter_->stats() : ConnectionStats{};
}

size_t HttpServer::max_connections() const {
  return limiter_ != nullptr           ? limiter_->max_connections()
         : limits_.max_connections > 0 ? limits_.max_connections
                                       : ConnectionLimiter::DefaultMaxConnections();
}

void HttpServer::OnRequest(evhttp_request* request, void* arg) {
  auto* server = static_cast<HttpServer*>(arg);
  server->limiter_->OnRequestRead(request);
  HttpRequest req;
  req.method = MethodName(evhttp_request_get_command(request));
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(request);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  req.path = path != nullptr && *path != '\0' ? path : "/";
  const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
  if (query != nullptr) req.query = query;
  const evkeyvalq* in_headers = evhttp_request_get_input_headers(request);
  for (const evkeyval* h = in_headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    req.headers.emplace_back(absl::AsciiStrToLower(h->key), h->value);
  }
  evbuffer* in = evhttp_request_get_input_buffer(request);
  const size_t length = evbuffer_get_length(in);
  req.body.resize(length);
  if (length > 0) evbuffer_copyout(in, req.body.data(), length);

  HttpResponse response;
  const std::string lookup_method = req.method == "HEAD" ? "GET" : req.method;
  auto it = server->routes_.find({lookup_method, req.path});
  if (it != server->routes_.end()) {
    response = it->second(req);
  } else {
    bool path_known = false;
    for (const auto& [key, handler] : server->routes_) path_known |= key.second == req.path;
    response.status = path_known ? 405 : 404;
    response.body = path_known ? absl::StrCat(req.method, " is not allowed on ", req.path, "\n")
                               : absl::StrCat("no such endpoint: ", req.path, "\n");
  }
  evkeyvalq* headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", response.content_type.c_str());
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
  evbuffer* out = evbuffer_new();
  evbuffer_add(out, response.body.data(), response.body.size());
  evhttp_send_reply(request, response.status, ReasonPhrase(response.status), out);
  evbuffer_free(out);
}

}  // namespace palisade::http
