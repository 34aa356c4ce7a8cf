// Moves bytes both ways between two transports: backpressure (stop reading a
// side while the other has too much pending), half-close (one side's EOF
// becomes the other's FIN/close_notify), a per-turn budget so one busy
// connection cannot starve the rest of its worker, and a graceful finish
// that never ends a side cleanly after dropping a byte it accepted.
#ifndef PALISADE_RUNTIME_NET_PUMP_H_
#define PALISADE_RUNTIME_NET_PUMP_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "runtime/event/event_loop.h"
#include "runtime/net/byte_buffer.h"
#include "runtime/net/transport.h"

namespace palisade::net {

enum class Side { kDownstream, kUpstream };

// Loop thread only. The owner keeps both transports alive for the pump's
// lifetime and feeds it each fd's readiness through OnReadiness().
class Pump {
 public:
  struct Options {
    size_t high_water_bytes = 256 * 1024;
    size_t bytes_per_turn = 1024 * 1024;
  };
  struct Callbacks {
    // Both directions ended cleanly (EOF seen and passed on, all flushed).
    std::function<void()> on_done;
    // A read or write failed on `side`; `reason` is the transport's code, or
    // "undeliverable": `side` sent bytes after its direction was finished.
    std::function<void(Side side, const std::string& reason)> on_error;
  };

  Pump(event::EventLoop* loop, Transport* downstream, Transport* upstream, Options options,
       Callbacks callbacks);

  // Starts moving bytes (both sides assumed ready until they say otherwise).
  void Start();
  void OnReadiness(Side side, bool readable, bool writable);
  // Ends the connection without losing a byte (drain, re-authentication,
  // idle timeout). Bytes keep moving both ways. Once nothing from downstream
  // waits to be delivered (buffered here or unread in the socket), the
  // upstream gets its end (FIN / close_notify): for a server, "the client is
  // done". The upstream's own end, passed on after everything it sent, then
  // finishes the pump (on_done). Should downstream send more after its
  // direction was ended, those bytes cannot be delivered: on_error
  // ("undeliverable"), and the owner resets both sides. An upstream that
  // never ends is the owner's grace period to cut short, with a reset.
  void FinishGracefully();
  bool finishing() const { return finishing_; }

  uint64_t bytes_from_downstream() const { return down_to_up_.moved; }
  uint64_t bytes_from_upstream() const { return up_to_down_.moved; }
  absl::Time last_activity() const { return last_activity_; }
  bool started() const { return started_; }

 private:
  // Which readiness an operation waits for before it is tried again.
  enum class Wait { kNone, kRead, kWrite };
  struct Endpoint {
    Transport* transport;
    Wait read_wait = Wait::kNone;
    Wait write_wait = Wait::kNone;
  };
  struct Direction {
    Endpoint* src;
    Endpoint* dst;
    Side src_side;
    ByteBuffer pending;
    bool src_eof = false;
    bool dst_shut = false;
    // dst was ended before src was: whatever src still sends is undeliverable.
    bool cut = false;
    uint64_t moved = 0;
  };

  void Progress();
  // Moves what it can in one direction; returns bytes moved, or -1 on error.
  long Flow(Direction& d, size_t budget);
  bool Flush(Direction& d);
  // Finishing: ends the downstream-to-upstream direction once it is empty.
  void CutWhenDrained(Direction& d);
  void Fail(Side side, const std::string& reason);
  static void Unblock(Endpoint& e, bool readable, bool writable);

  Endpoint downstream_;
  Endpoint upstream_;
  Direction down_to_up_;
  Direction up_to_down_;
  Options options_;
  Callbacks callbacks_;
  event::Timer resume_;  // continues a turn cut short by the budget
  absl::Time last_activity_;
  bool started_ = false;
  bool finished_ = false;
  bool finishing_ = false;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_PUMP_H_
