#include "control/inject/inject_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace palisade::inject {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPod[] =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n"
    "    - name: web\n      image: web:1\n";

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCli(std::vector<std::string> args, const std::string& input) {
  args.insert(args.begin(), "inject");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::istringstream in(input);
  std::ostringstream out, err;
  const int code = RunInjectCommand(static_cast<int>(argv.size()), argv.data(), in, out, err);
  return {code, out.str(), err.str()};
}

TEST(InjectCommandTest, InjectsStdinToStdoutAndSaysWhatItDid) {
  const Result r = RunCli({}, kPod);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("name: palisade-proxy"));
  EXPECT_THAT(r.err, HasSubstr("injected Pod web"));
  EXPECT_EQ(RunCli({"--quiet", "-"}, kPod).err, "");
}

TEST(InjectCommandTest, AppliesFlagsToThePod) {
  const Result r = RunCli({"--proxy_image=registry.example/proxy:2", "--nocapture_ipv6",
                           "--exclude_outbound_cidrs", "10.96.0.0/12", "--proxy_cpu_limit="},
                          kPod);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("image: registry.example/proxy:2"));
  EXPECT_THAT(r.out, HasSubstr("10.96.0.0/12"));
  EXPECT_THAT(r.out, Not(HasSubstr("--ipv6")));
  EXPECT_THAT(r.out, Not(HasSubstr("cpu: \"1\"")));
}

TEST(InjectCommandTest, RefusesUnknownFlagsAndBadValuesAsUsageErrors) {
  EXPECT_EQ(RunCli({"--proxy_imag=x"}, kPod).code, 2);
  const Result bad_port = RunCli({"--health_port=http"}, kPod);
  EXPECT_EQ(bad_port.code, 2);
  EXPECT_THAT(bad_port.err, HasSubstr("--health_port: \"http\" is not a number"));
  const Result bad_option = RunCli({"--token_expiration_seconds=60"}, kPod);
  EXPECT_EQ(bad_option.code, 2);
  EXPECT_THAT(bad_option.err, HasSubstr("--token_expiration_seconds"));
  EXPECT_EQ(RunCli({"--inbound_port"}, kPod).code, 2);
}

TEST(InjectCommandTest, ExitsOneNamingTheFileOnAnInjectionError) {
  const Result r = RunCli({}, std::string(kPod) + "  hostNetwork: [\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("inject: stdin: document 1"));
  const Result missing = RunCli({"/nonexistent/app.yaml"}, "");
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot read /nonexistent/app.yaml"));
}

TEST(InjectCommandTest, AnswersAnAdmissionReview) {
  const std::string review =
      R"({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
          "uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
          "operation": "CREATE", "namespace": "shop",
          "object": {"metadata": {"name": "web"},
                     "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})";
  const Result r = RunCli({"--admission_review"}, review);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"uid\":\"u-1\""));
  EXPECT_THAT(r.out, HasSubstr("\"patchType\":\"JSONPatch\""));
  EXPECT_EQ(RunCli({"--admission_review"}, "[]").code, 1);
}

TEST(InjectCommandTest, PrintsUsage) {
  const Result r = RunCli({"--help"}, "");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("--exclude_outbound_ports"));
}

}  // namespace
}  // namespace palisade::inject
