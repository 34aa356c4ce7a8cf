#include "runtime/net/pump.h"

#include <algorithm>
#include <memory>

namespace palisade::net {
namespace {

// One read at a time lands here before it is written on; only what the other
// side does not take at once is copied into the connection's own buffer.
// Allocated at a thread's first pump rather than in the TLS block, whose
// image every thread zeroes (makes resident) at start: the main, admin and
// file-watch threads never pump, and 64 KB each was most of their stacks' RSS.
constexpr size_t kScratchBytes = 64 * 1024;

char* Scratch() {
  thread_local std::unique_ptr<char[]> scratch;
  if (scratch == nullptr) scratch.reset(new char[kScratchBytes]);
  return scratch.get();
}

}  // namespace

Pump::Pump(event::EventLoop* loop, Transport* downstream, Transport* upstream, Options options,
           Callbacks callbacks)
    : downstream_{downstream},
      upstream_{upstream},
      down_to_up_{&downstream_, &upstream_, Side::kDownstream},
      up_to_down_{&upstream_, &downstream_, Side::kUpstream},
      options_(options),
      callbacks_(std::move(callbacks)),
      resume_(loop, [this] { Progress(); }),
      last_activity_(absl::Now()) {}

void Pump::Start() {
  started_ = true;
  Progress();
}

void Pump::Unblock(Endpoint& e, bool readable, bool writable) {
  auto clear = [&](Wait& w) {
    if ((w == Wait::kRead && readable) || (w == Wait::kWrite && writable)) w = Wait::kNone;
  };
  clear(e.read_wait);
  clear(e.write_wait);
}

void Pump::OnReadiness(Side side, bool readable, bool writable) {
  Unblock(side == Side::kDownstream ? downstream_ : upstream_, readable, writable);
  if (started_ && !finished_) Progress();
}

void Pump::FinishGracefully() {
  finishing_ = true;
  if (started_ && !finished_) Progress();
}

void Pump::CutWhenDrained(Direction& d) {
  if (d.dst_shut || !d.pending.empty() || d.dst->write_wait != Wait::kNone ||
      d.src->transport->HasUnreadData()) {
    return;
  }
  const IoResult r = d.dst->transport->ShutdownWrite();
  if (r.status == IoStatus::kWouldBlock) {
    d.dst->write_wait = r.wants == Readiness::kRead ? Wait::kRead : Wait::kWrite;
    return;
  }
  // kError: the peer is already gone; nothing is left to tell it.
  d.dst_shut = true;
  d.cut = !d.src_eof;
}

void Pump::Progress() {
  size_t budget = options_.bytes_per_turn;
  bool moved_any = false;
  for (;;) {
    const long a = Flow(down_to_up_, budget);
    if (a < 0) return;
    budget -= std::min<size_t>(budget, a);
    const long b = Flow(up_to_down_, budget);
    if (b < 0) return;
    budget -= std::min<size_t>(budget, b);
    if (a + b > 0) moved_any = true;
    if (a + b == 0) break;
    if (budget == 0) {
      // Yield to the other connections of this worker; continue next turn.
      resume_.Arm(absl::ZeroDuration());
      break;
    }
  }
  if (moved_any) last_activity_ = absl::Now();
  if (finishing_) CutWhenDrained(down_to_up_);
  // A cut direction needs no end from its source: both peers have been told
  // ours, and whatever it still sends could not be delivered.
  const bool down_done = down_to_up_.dst_shut && (down_to_up_.src_eof || down_to_up_.cut);
  const bool done = down_done && up_to_down_.src_eof && up_to_down_.dst_shut;
  if (done && !down_to_up_.src_eof && downstream_.transport->HasUnreadData()) {
    Fail(Side::kDownstream, "undeliverable");
    return;
  }
  if (done && !finished_) {
    finished_ = true;
    resume_.Cancel();
    callbacks_.on_done();  // may destroy this pump
  }
}

bool Pump::Flush(Direction& d) {
  while (!d.pending.empty() && d.dst->write_wait == Wait::kNone) {
    const IoResult r = d.dst->transport->Write(d.pending.data(), d.pending.size());
    if (r.status == IoStatus::kOk) {
      d.pending.Consume(r.bytes);
      d.moved += r.bytes;
      continue;
    }
    if (r.status == IoStatus::kWouldBlock) {
      d.dst->write_wait = r.wants == Readiness::kRead ? Wait::kRead : Wait::kWrite;
      break;
    }
    Fail(d.src_side == Side::kDownstream ? Side::kUpstream : Side::kDownstream,
         d.dst->transport->error());
    return false;
  }
  return true;
}

long Pump::Flow(Direction& d, size_t budget) {
  const uint64_t before = d.moved;
  size_t read_total = 0;
  if (!Flush(d)) return -1;
  while (!d.src_eof && d.pending.size() < options_.high_water_bytes &&
         d.src->read_wait == Wait::kNone && read_total < budget) {
    const size_t want = std::min(kScratchBytes, options_.high_water_bytes - d.pending.size());
    char* const scratch = Scratch();
    // Fill the scratch before writing: a TLS source returns one record (at
    // most 16 KB) per Read, and one write of several records costs one
    // system call instead of one each. Reading goes on until the source
    // would block, as it always did (the fd is edge-triggered), so this
    // delays no byte past the moment the source runs dry.
    size_t got = 0;
    IoResult r;
    for (;;) {
      r = d.src->transport->Read(scratch + got, want - got);
      if (r.status != IoStatus::kOk) break;
      got += r.bytes;
      if (got >= want) break;
    }
    // An error after some records: those go on first, as when each record
    // was written as it came.
    const bool failed = r.status == IoStatus::kError;
    if (failed && got == 0) {
      Fail(d.src_side, d.src->transport->error());
      return -1;
    }
    if (got > 0 && d.cut) {
      Fail(d.src_side, "undeliverable");
      return -1;
    }
    if (r.status == IoStatus::kWouldBlock) {
      d.src->read_wait = r.wants == Readiness::kRead ? Wait::kRead : Wait::kWrite;
    } else if (r.status == IoStatus::kEof) {
      d.src_eof = true;
    }
    if (got == 0) break;
    read_total += got;
    size_t written = 0;
    if (d.pending.empty() && d.dst->write_wait == Wait::kNone) {
      const IoResult w = d.dst->transport->Write(scratch, got);
      if (w.status == IoStatus::kOk) {
        written = w.bytes;
        d.moved += w.bytes;
      } else if (w.status == IoStatus::kWouldBlock) {
        d.dst->write_wait = w.wants == Readiness::kRead ? Wait::kRead : Wait::kWrite;
      } else {
        Fail(d.src_side == Side::kDownstream ? Side::kUpstream : Side::kDownstream,
             d.dst->transport->error());
        return -1;
      }
    }
    d.pending.Append(scratch + written, got - written);
    if (failed) {
      Fail(d.src_side, d.src->transport->error());
      return -1;
    }
  }
  if (d.src_eof && d.pending.empty() && !d.dst_shut && d.dst->write_wait == Wait::kNone) {
    const IoResult r = d.dst->transport->ShutdownWrite();
    if (r.status == IoStatus::kOk) {
      d.dst_shut = true;
    } else if (r.status == IoStatus::kWouldBlock) {
      d.dst->write_wait = r.wants == Readiness::kRead ? Wait::kRead : Wait::kWrite;
    } else {
      // The peer is already gone; nothing is left to tell it.
      d.dst_shut = true;
    }
  }
  return static_cast<long>(d.moved - before) + static_cast<long>(read_total);
}

void Pump::Fail(Side side, const std::string& reason) {
  if (finished_) return;
  finished_ = true;
  resume_.Cancel();
  callbacks_.on_error(side, reason.empty() ? "io_error" : reason);  // may destroy this pump
}

}  // namespace palisade::net
