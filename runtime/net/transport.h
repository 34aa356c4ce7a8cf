// One side of a proxied connection: a socket, spoken to in plaintext or
// through TLS. The pump moves bytes between two of them without knowing which.
#ifndef PALISADE_RUNTIME_NET_TRANSPORT_H_
#define PALISADE_RUNTIME_NET_TRANSPORT_H_

#include <cstddef>
#include <string>

namespace palisade::net {

enum class IoStatus {
  kOk,          // `bytes` moved (Read: >0)
  kWouldBlock,  // retry when the fd is ready for `wants`
  kEof,         // Read: the peer closed its write side (FIN / close_notify)
  kError,       // the connection is broken; error() says why
};

enum class Readiness { kRead, kWrite };

struct IoResult {
  IoStatus status = IoStatus::kOk;
  size_t bytes = 0;
  Readiness wants = Readiness::kRead;  // with kWouldBlock
};

// Loop thread only. Owns its fd.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual int fd() const = 0;
  virtual IoResult Read(char* buffer, size_t length) = 0;
  virtual IoResult Write(const char* data, size_t length) = 0;
  // Ends our write direction (TCP FIN, or TLS close_notify) and keeps reading.
  virtual IoResult ShutdownWrite() = 0;
  // Bytes have arrived that Read() has not returned yet (in the kernel's
  // receive queue, or decrypted and waiting): what a clean close must not leave.
  virtual bool HasUnreadData() const = 0;
  // Makes the coming close a reset (RST, and no close_notify): the peer must
  // not take the end for a clean one when bytes were lost on the way.
  virtual void ResetOnClose() = 0;
  // Why the last kError happened, as a short reason code for metrics/logs
  // ("connection_reset", "tls_error"...).
  virtual const std::string& error() const = 0;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_TRANSPORT_H_
