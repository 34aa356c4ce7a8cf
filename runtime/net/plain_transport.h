// A Transport over a plain TCP socket.
#ifndef PALISADE_RUNTIME_NET_PLAIN_TRANSPORT_H_
#define PALISADE_RUNTIME_NET_PLAIN_TRANSPORT_H_

#include <string>

#include "runtime/net/transport.h"
#include "runtime/net/unique_fd.h"

namespace palisade::net {

class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const override { return fd_.get(); }
  IoResult Read(char* buffer, size_t length) override;
  IoResult Write(const char* data, size_t length) override;
  IoResult ShutdownWrite() override;
  bool HasUnreadData() const override;
  void ResetOnClose() override;
  const std::string& error() const override { return error_; }

 private:
  IoResult Fail(int error_number);
  UniqueFd fd_;
  std::string error_;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_PLAIN_TRANSPORT_H_
