// What caller_identity http_header costs per request, without the noise of
// a shared machine's scheduler: one wrk-like 64 B POST read through a plain
// transport and through HttpIdentityTransport, over a real socket pair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "proxy/caller/http_identity_transport.h"
#include "runtime/net/plain_transport.h"

namespace palisade::caller {
namespace {

const std::string kRequest =
    "POST / HTTP/1.1\r\nHost: 127.0.0.1:15001\r\n"
    "Content-Type: text/plain\r\nContent-Length: 64\r\n\r\n" +
    std::string(64, 'r');

template <bool kInject>
void BM_ReadRequest(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair");
    return;
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::unique_ptr<net::Transport> transport =
      std::make_unique<net::PlainTransport>(net::UniqueFd(fds[0]));
  if (kInject) {
    transport = std::make_unique<HttpIdentityTransport>(
        std::move(transport), "x-forwarded-client-cert",
        "By=spiffe://bench.local/ns/bench/sa/backend;Hash=" + std::string(64, 'f') +
            ";URI=spiffe://bench.local/ns/bench/sa/frontend",
        65536);
  }
  static char buffer[65536];
  size_t out = 0;
  for (auto _ : state) {
    if (write(fds[1], kRequest.data(), kRequest.size()) != static_cast<ssize_t>(kRequest.size())) {
      state.SkipWithError("write");
      break;
    }
    // As the pump does: read until the transport would block.
    for (;;) {
      const net::IoResult r = transport->Read(buffer, sizeof(buffer));
      if (r.status != net::IoStatus::kOk) break;
      out += r.bytes;
    }
  }
  state.counters["out_bytes_per_request"] =
      benchmark::Counter(static_cast<double>(out) / state.iterations());
  close(fds[1]);
}

BENCHMARK_TEMPLATE(BM_ReadRequest, false)->Name("plain_transport");
BENCHMARK_TEMPLATE(BM_ReadRequest, true)->Name("http_identity_transport");

}  // namespace
}  // namespace palisade::caller
