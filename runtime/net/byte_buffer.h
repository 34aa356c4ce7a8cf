// Bytes read from one side and not yet accepted by the other. Storage is
// allocated only while bytes are pending and freed when drained, so an idle
// connection holds no buffer memory.
#ifndef PALISADE_RUNTIME_NET_BYTE_BUFFER_H_
#define PALISADE_RUNTIME_NET_BYTE_BUFFER_H_

#include <cstddef>
#include <cstring>
#include <memory>

namespace palisade::net {

class ByteBuffer {
 public:
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  const char* data() const { return storage_.get() + begin_; }

  void Append(const char* bytes, size_t n) {
    if (n == 0) return;
    if (capacity_ - end_ < n) Grow(n);
    std::memcpy(storage_.get() + end_, bytes, n);
    end_ += n;
  }

  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      storage_.reset();
      begin_ = end_ = capacity_ = 0;
    }
  }

 private:
  void Grow(size_t extra) {
    const size_t live = size();
    size_t capacity = capacity_ == 0 ? 16384 : capacity_;
    while (capacity < live + extra) capacity *= 2;
    if (capacity == capacity_) {  // enough room once the consumed front is reclaimed
      std::memmove(storage_.get(), data(), live);
    } else {
      std::unique_ptr<char[]> bigger(new char[capacity]);
      if (live > 0) std::memcpy(bigger.get(), data(), live);
      storage_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = live;
  }

  std::unique_ptr<char[]> storage_;
  size_t begin_ = 0;
  size_t end_ = 0;
  size_t capacity_ = 0;
};

}  // namespace palisade::net

#endif  // PALISADE_RUNTIME_NET_BYTE_BUFFER_H_
