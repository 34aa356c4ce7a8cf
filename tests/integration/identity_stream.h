// Real identity streams to a palisade-control process (ControlProcess) over
// TLS through the proxy's SecureChannel (proxy/identity_client).
#ifndef PALISADE_TESTS_INTEGRATION_IDENTITY_STREAM_H_
#define PALISADE_TESTS_INTEGRATION_IDENTITY_STREAM_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/palisade/control/v1/control.grpc.pb.h"
#include "proxy/identity_client/secure_channel.h"
#include "tests/util/control_process.h"

namespace palisade::testing {

// A proxy's credential as the stream gives it.
struct Svid {
  std::vector<bssl::UniquePtr<X509>> chain;
  bssl::UniquePtr<EVP_PKEY> key;
};

// One Watch stream over TLS, optionally presenting `client`.
class IdentityStream {
 public:
  static absl::StatusOr<std::unique_ptr<IdentityStream>> Open(const ControlProcess& control,
                                                              const Svid* client = nullptr);
  bool Write(const control::v1::WatchRequest& request) { return stream_->Write(request); }
  bool Read(control::v1::WatchResponse* response) { return stream_->Read(response); }
  // Reads until the server ends the stream; returns its status.
  grpc::Status Drain(std::vector<control::v1::WatchResponse>* responses = nullptr);
  void CloseWrites() { stream_->WritesDone(); }

 private:
  std::unique_ptr<identity_client::SecureChannel> channel_;
  std::unique_ptr<control::v1::IdentityService::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<control::v1::WatchRequest, control::v1::WatchResponse>>
      stream_;
};

control::v1::WatchRequest HelloRequest(const std::string& join_token = "",
                                       const std::string& sa_token = "");
// A CSR for `spiffe_id` with a fresh key, which goes to `*key`.
control::v1::WatchRequest CsrRequest(const std::string& spiffe_id, bssl::UniquePtr<EVP_PKEY>* key,
                                     uint64_t request_id = 1);
// The SVID in `response` (which must carry one) with `key`.
Svid SvidFrom(const control::v1::WatchResponse& response, bssl::UniquePtr<EVP_PKEY> key);

// A bootstrap of `spiffe_id` with the join token `token` through `control`:
// the stream's status, and the SVID in `*svid` (when not null) if one came.
grpc::Status BootstrapWith(const ControlProcess& control, const std::string& token,
                           const std::string& spiffe_id, Svid* svid = nullptr);
// A renewal over mTLS presenting `svid`: whether `control` (which verified
// its chain first) sent a new SVID.
bool RenewsOverMtls(const ControlProcess& control, const Svid& svid, const std::string& spiffe_id);

}  // namespace palisade::testing

#endif  // PALISADE_TESTS_INTEGRATION_IDENTITY_STREAM_H_
