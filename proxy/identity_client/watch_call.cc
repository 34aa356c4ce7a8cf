#include "proxy/identity_client/watch_call.h"

#include <utility>

#include "runtime/status/status_macros.h"

namespace palisade::identity_client {

absl::StatusOr<std::unique_ptr<WatchCall>> WatchCall::Start(SecureChannelOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<SecureChannel> channel,
                   SecureChannel::Start(std::move(options)));
  return std::unique_ptr<WatchCall>(new WatchCall(std::move(channel)));
}

WatchCall::WatchCall(std::unique_ptr<SecureChannel> channel) : channel_(std::move(channel)) {}

WatchCall::~WatchCall() { Finish(); }

absl::Status WatchCall::WaitOpen() {
  RETURN_IF_ERROR(channel_->WaitConnected());
  stub_ = control::v1::IdentityService::NewStub(channel_->channel());
  stream_ = stub_->Watch(&context_);
  {
    sync::MutexLock lock(&mutex_);
    opened_ = true;
    // A Cancel() that came while the stream was being made did not see it.
    if (cancelled_) context_.TryCancel();
  }
  reader_ = std::thread([this] {
    control::v1::WatchResponse response;
    while (stream_->Read(&response)) {
      sync::MutexLock lock(&mutex_);
      inbox_.push_back(std::move(response));
      mutex_.NotifyAll();
    }
    sync::MutexLock lock(&mutex_);
    read_done_ = true;
    mutex_.NotifyAll();
  });
  sync::MutexLock lock(&mutex_);
  if (cancelled_) return absl::CancelledError("the control-plane call was cancelled");
  return absl::OkStatus();
}

bool WatchCall::Write(const control::v1::WatchRequest& request) {
  return stream_ != nullptr && stream_->Write(request);
}

WatchCall::Next WatchCall::WaitNext(absl::Duration timeout, control::v1::WatchResponse* response) {
  sync::MutexLock lock(&mutex_);
  const auto ready = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return !inbox_.empty() || read_done_ || cancelled_;
  };
  if (!ready() && timeout > absl::ZeroDuration()) mutex_.AwaitWithTimeout(ready, timeout);
  if (!inbox_.empty()) {
    *response = std::move(inbox_.front());
    inbox_.pop_front();
    return Next::kMessage;
  }
  return read_done_ || cancelled_ ? Next::kEnded : Next::kTimeout;
}

void WatchCall::Cancel() {
  {
    sync::MutexLock lock(&mutex_);
    cancelled_ = true;
    if (opened_) context_.TryCancel();
    mutex_.NotifyAll();
  }
  channel_->Close();  // also aborts a connect in progress
}

WatchCall::Outcome WatchCall::Finish() {
  if (outcome_.has_value()) return *outcome_;
  Outcome outcome;
  bool opened;
  {
    sync::MutexLock lock(&mutex_);
    opened = opened_;
    outcome.server_ended = read_done_ && !cancelled_;
    if (opened_ && !read_done_) context_.TryCancel();
  }
  if (opened) {
    reader_.join();
    outcome.status = stream_->Finish();
  } else {
    outcome.status = grpc::Status(grpc::StatusCode::CANCELLED, "the stream was never opened");
  }
  outcome.transport = channel_->transport_status();
  channel_->Close();
  outcome_ = outcome;
  return outcome;
}

}  // namespace palisade::identity_client
