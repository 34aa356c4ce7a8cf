#include "tests/integration/control_server_fixture.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "identity/certificate.h"
#include "identity/csr.h"
#include "identity/keys.h"
#include "identity/trust_bundle.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<ControlProcess>> ControlProcess::Start(
    const std::string& dir, const std::vector<std::string>& extra) {
  auto control = std::make_unique<ControlProcess>();
  control->dir_ = dir;
  const std::string listen_file = dir + "/listen.addr";
  const std::string admin_file = dir + "/admin.addr";
  ::unlink(listen_file.c_str());
  ::unlink(admin_file.c_str());
  std::vector<std::string> argv = {kControlBinary,
                                   "serve",
                                   "--trust_domain=example.org",
                                   "--state_dir=" + control->state_dir(),
                                   "--listen=127.0.0.1:0",
                                   "--admin=127.0.0.1:0",
                                   "--listen_address_file=" + listen_file,
                                   "--admin_address_file=" + admin_file,
                                   "--log_level=debug"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<Process>> process = Process::Start(argv, dir + "/control.log");
  if (!process.ok()) return process.status();
  control->process_ = *std::move(process);
  const bool up = WaitFor(
      [&] {
        return !control->process_->Running() ||
               (!ReadFileOrEmpty(listen_file).empty() && !ReadFileOrEmpty(admin_file).empty());
      },
      absl::Seconds(30));
  if (!up || !control->process_->Running()) {
    return absl::UnavailableError(absl::StrCat("palisade-control did not start",
                                               ExitForCaller(*control->process_), ":\n",
                                               control->process_->Output()));
  }
  control->identity_ = std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(listen_file)));
  control->admin_ = std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(admin_file)));
  control->admin_url_ = "http://" + control->admin_;
  if (!WaitFor([&] { return HttpGet(control->admin_url_ + "/ready").status == 200; },
               absl::Seconds(10))) {
    return absl::UnavailableError("palisade-control never became ready");
  }
  return control;
}

CommandResult ControlProcess::Cli(std::vector<std::string> args) const {
  args.insert(args.begin(), kControlBinary);
  args.push_back("--admin=" + admin_);
  return RunCommand(args, absl::Seconds(20));
}

absl::StatusOr<std::unique_ptr<IdentityStream>> IdentityStream::Open(const ControlProcess& control,
                                                                     const Svid* client) {
  identity_client::SecureChannelOptions options;
  options.address = control.identity_address();
  options.server_spiffe_id = "spiffe://example.org/palisade/control";
  identity::TrustBundleSet::Builder builder;
  if (absl::Status s =
          builder.AddPem("example.org", ReadFileOrEmpty(control.state_dir() + "/bundle.pem"));
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

}  // namespace palisade::testing
