#include "tests/integration/identity_stream.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/trust_bundle.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<IdentityStream>> IdentityStream::Open(const ControlProcess& control,
                                                                     const Svid* client) {
  identity_client::SecureChannelOptions options;
  options.address = control.identity_address();
  options.server_spiffe_id = control.server_spiffe_id();
  identity::TrustBundleSet::Builder builder;
  if (absl::Status s =
          builder.AddPem(control.trust_domain(), ReadFileOrEmpty(control.bundle_file()));
      !s.ok()) {
    return s;
  }
  options.bundles = builder.Build();
  if (client != nullptr) {
    for (const auto& c : client->chain) {
      X509_up_ref(c.get());
      options.client_chain.emplace_back(c.get());
    }
    EVP_PKEY_up_ref(client->key.get());
    options.client_key.reset(client->key.get());
  }
  auto stream = std::make_unique<IdentityStream>();
  absl::StatusOr<std::unique_ptr<identity_client::SecureChannel>> channel =
      identity_client::SecureChannel::Connect(std::move(options));
  if (!channel.ok()) return channel.status();
  stream->channel_ = *std::move(channel);
  stream->stub_ = control::v1::IdentityService::NewStub(stream->channel_->channel());
  stream->context_ = std::make_unique<grpc::ClientContext>();
  stream->context_->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  stream->stream_ = stream->stub_->Watch(stream->context_.get());
  return stream;
}

grpc::Status IdentityStream::Drain(std::vector<control::v1::WatchResponse>* responses) {
  control::v1::WatchResponse response;
  while (stream_->Read(&response)) {
    if (responses != nullptr) responses->push_back(response);
  }
  return stream_->Finish();
}

control::v1::WatchRequest HelloRequest(const std::string& join_token, const std::string& sa_token) {
  control::v1::WatchRequest r;
  r.mutable_hello()->set_instance_name("it-proxy");
  r.mutable_hello()->set_version("integration");
  if (!join_token.empty()) r.mutable_hello()->set_join_token(join_token);
  if (!sa_token.empty()) r.mutable_hello()->set_service_account_token(sa_token);
  return r;
}

control::v1::WatchRequest CsrRequest(const std::string& spiffe_id, bssl::UniquePtr<EVP_PKEY>* key,
                                     uint64_t request_id) {
  *key = *identity::GenerateP256Key();
  control::v1::WatchRequest r;
  r.mutable_csr()->set_csr_der(
      *identity::CreateCsrDer(key->get(), *identity::SpiffeId::Parse(spiffe_id)));
  r.mutable_csr()->set_request_id(request_id);
  return r;
}

Svid SvidFrom(const control::v1::WatchResponse& response, bssl::UniquePtr<EVP_PKEY> key) {
  Svid svid;
  for (const auto& der : response.svid().certificate_chain_der()) {
    svid.chain.push_back(*identity::ParseDerCertificate(der));
  }
  svid.key = std::move(key);
  return svid;
}

grpc::Status BootstrapWith(const ControlProcess& control, const std::string& token,
                           const std::string& spiffe_id, Svid* svid) {
  auto stream = IdentityStream::Open(control);
  if (!stream.ok()) return grpc::Status(grpc::StatusCode::UNKNOWN, stream.status().ToString());
  bssl::UniquePtr<EVP_PKEY> key;
  (*stream)->Write(HelloRequest(token));
  (*stream)->Write(CsrRequest(spiffe_id, &key));
  std::vector<control::v1::WatchResponse> responses;
  const grpc::Status status = (*stream)->Drain(&responses);
  if (status.ok() && svid != nullptr && !responses.empty() && responses.back().has_svid()) {
    *svid = SvidFrom(responses.back(), std::move(key));
  }
  return status;
}

bool RenewsOverMtls(const ControlProcess& control, const Svid& svid, const std::string& spiffe_id) {
  auto stream = IdentityStream::Open(control, &svid);
  if (!stream.ok()) return false;
  control::v1::WatchResponse response;
  if (!(*stream)->Write(HelloRequest()) || !(*stream)->Read(&response)) return false;
  bssl::UniquePtr<EVP_PKEY> key;
  if (!(*stream)->Write(CsrRequest(spiffe_id, &key, 2))) return false;
  while ((*stream)->Read(&response)) {
    if (response.has_svid()) return true;
  }
  return false;
}

}  // namespace palisade::testing
