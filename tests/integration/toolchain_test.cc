// One binary links BoringSSL, gRPC++ and the generated protos: BoringSSL is the
// TLS library really in use, and a gRPC stream over plaintext loopback works
// beside it.
#include <dlfcn.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "proto/palisade/control/v1/control.grpc.pb.h"

namespace palisade {
namespace {

using control::v1::IdentityService;
using control::v1::WatchRequest;
using control::v1::WatchResponse;

TEST(ToolchainTest, TlsLibraryInUseIsDebiansBoringSsl) {
#ifndef OPENSSL_IS_BORINGSSL
  FAIL() << "compiled against headers that are not BoringSSL's";
#endif
  EXPECT_EQ(std::string(OpenSSL_version(OPENSSL_VERSION)), "BoringSSL");

  // The symbol really comes from Debian's android BoringSSL build, not from
  // OpenSSL 3's libssl.so.3, which gRPC also pulls into the process.
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&SSL_CTX_set_custom_verify), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_NE(std::string(info.dli_fname).find("/android/libssl.so"), std::string::npos)
      << info.dli_fname;

  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  ASSERT_NE(ctx, nullptr);
  EXPECT_TRUE(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION));
}

// Answers a Hello with a bundle push naming the instance, so the client can
// tell that the message really crossed the stream both ways.
class EchoingIdentityService final : public IdentityService::Service {
  grpc::Status Watch(grpc::ServerContext*,
                     grpc::ServerReaderWriter<WatchResponse, WatchRequest>* stream) override {
    WatchRequest request;
    while (stream->Read(&request)) {
      WatchResponse response;
      response.mutable_bundle()->set_version(42);
      response.mutable_bundle()->add_trust_domains()->set_trust_domain(
          request.hello().instance_name());
      stream->Write(response);
    }
    return grpc::Status::OK;
  }
};

TEST(ToolchainTest, GrpcStreamWorksOverPlaintextLoopbackBesideBoringSsl) {
  EchoingIdentityService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = IdentityService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->Watch(&context);

  WatchRequest hello;
  hello.mutable_hello()->set_instance_name("toolchain-test");
  ASSERT_TRUE(stream->Write(hello));
  WatchResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.bundle().version(), 42u);
  ASSERT_EQ(response.bundle().trust_domains_size(), 1);
  EXPECT_EQ(response.bundle().trust_domains(0).trust_domain(), "toolchain-test");

  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  server->Shutdown();
}

}  // namespace
}  // namespace palisade
