#include "control/service/watch_stream.h"

#include <utility>

namespace palisade::control::service {

// Lifetime: gRPC calls OnDone only after Finish() was called and every
// operation completed. Finish() is called only once no write is in flight,
// and no write is started after it, so between "a write or Finish is
// decided under mu_" and "the call into gRPC after mu_ is released" the
// reactor cannot be gone.
class WatchStream::Reactor final
    : public grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse> {
 public:
  Reactor(std::shared_ptr<WatchStream> stream, StreamHost* host)
      : stream_(std::move(stream)), host_(host) {}

  void Begin() {
    absl::Status started = host_->OnStreamStart(stream_);
    if (!started.ok()) {
      stream_->End(started);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The proxy closed its side (or the call broke): nothing more to say.
      stream_->End(absl::OkStatus());
      return;
    }
    if (stream_->ending()) return;
    absl::Status handled = host_->OnMessage(stream_, request_);
    if (!handled.ok()) {
      stream_->End(handled);
      return;
    }
    if (!stream_->ending()) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }

  void OnCancel() override { stream_->End(absl::CancelledError("stream cancelled")); }

  void OnDone() override {
    {
      sync::MutexLock lock(&stream_->mu_);
      stream_->reactor_ = nullptr;
    }
    host_->OnStreamDone(stream_);
    delete this;
  }

 private:
  std::shared_ptr<WatchStream> stream_;
  StreamHost* host_;
  v1::WatchRequest request_;
};

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

WatchStream::WatchStream(uint64_t id, std::string grpc_peer, absl::Time now)
    : id_(id), grpc_peer_(std::move(grpc_peer)) {
  info_.started_at = now;
}

grpc::ServerBidiReactor<v1::WatchRequest, v1::WatchResponse>* WatchStream::Start(
    grpc::CallbackServerContext* context, StreamHost* host, uint64_t id, absl::Time now) {
  std::shared_ptr<WatchStream> stream(new WatchStream(id, context->peer(), now));
  auto* reactor = new Reactor(stream, host);
  {
    sync::MutexLock lock(&stream->mu_);
    stream->reactor_ = reactor;
  }
  reactor->Begin();
  return reactor;
}

std::function<void()> WatchStream::NextAction() {
  if (finished_ || write_in_flight_ || reactor_ == nullptr) return nullptr;
  Reactor* reactor = reactor_;
  if (!queue_.empty()) {
    write_in_flight_ = true;
    writing_ = std::move(queue_.front());
    queue_.pop_front();
    return [this, reactor] { reactor->StartWrite(&writing_); };
  }
  if (end_status_.has_value()) {
    finished_ = true;
    grpc::Status status = *end_status_;
    return [reactor, status] { reactor->Finish(status); };
  }
  return nullptr;
}

void WatchStream::Send(v1::WatchResponse response) {
  std::function<void()> action;
  {
    sync::MutexLock lock(&mu_);
    if (end_status_.has_value() || finished_) return;
    queue_.push_back(std::move(response));
    action = NextAction();
  }
  if (action) action();
}

bool WatchStream::End(const absl::Status& status) {
  std::function<void()> action;
  {
    sync::MutexLock lock(&mu_);
    if (end_status_.has_value() || finished_) return false;
    end_status_ = ToGrpcStatus(status);
    action = NextAction();
  }
  if (action) action();
  return true;
}

bool WatchStream::ending() const {
  sync::MutexLock lock(&mu_);
  return end_status_.has_value() || finished_;
}

void WatchStream::OnWriteDone(bool ok) {
  std::function<void()> action;
  {
    sync::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      // The call is broken; what is queued can never arrive.
      queue_.clear();
      if (!end_status_.has_value())
        end_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
    }
    action = NextAction();
  }
  if (action) action();
}

StreamInfo WatchStream::info() const {
  sync::MutexLock lock(&mu_);
  return info_;
}

void WatchStream::Update(const std::function<void(StreamInfo&)>& change) {
  sync::MutexLock lock(&mu_);
  change(info_);
}

}  // namespace palisade::control::service
