#include "tests/util/control_process.h"

#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace palisade::testing {

absl::StatusOr<std::unique_ptr<ControlProcess>> ControlProcess::Start(
    const std::string& dir, const std::vector<std::string>& extra, const SpawnOptions& spawn,
    bool wait_until_ready) {
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
  for (absl::string_view arg : argv) {
    if (absl::ConsumePrefix(&arg, "--trust_domain=")) control->trust_domain_ = std::string(arg);
  }
  absl::StatusOr<std::unique_ptr<Process>> process =
      Process::Start(argv, dir + "/control.log", spawn);
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
  const int want = wait_until_ready ? 200 : -1;
  if (!WaitFor(
          [&] {
            const int status = HttpGet(control->admin_url_ + "/ready").status;
            return want < 0 ? status > 0 : status == want;
          },
          absl::Seconds(10))) {
    return absl::UnavailableError("palisade-control never became ready");
  }
  return control;
}

CommandResult ControlProcess::Cli(std::vector<std::string> args) const {
  args.insert(args.begin(), kControlBinary);
  args.push_back("--admin=" + admin_);
  args.push_back("--state_dir=" + state_dir());
  return RunCommand(args, absl::Seconds(20));
}

std::string ControlProcess::AdminToken() const {
  return std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(state_dir() + "/admin.token")));
}

HttpResult ControlProcess::AdminPost(const std::string& path, const std::string& body) const {
  return HttpPostJson(admin_url_ + path, body, AdminToken());
}

HttpResult ControlProcess::AdminGet(const std::string& path) const {
  return HttpRequest("GET", admin_url_ + path, {"Authorization: Bearer " + AdminToken()});
}

absl::StatusOr<nlohmann::json> ControlProcess::CreateJoinToken(const std::string& spiffe_id) const {
  const HttpResult r = AdminPost("/api/v1/tokens", nlohmann::json{{"spiffe_id", spiffe_id}}.dump());
  nlohmann::json created = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || created.is_discarded() || !created.contains("token")) {
    return absl::UnavailableError(
        absl::StrCat("POST /api/v1/tokens: HTTP ", r.status, ": ", r.body));
  }
  return created;
}

nlohmann::json ControlProcess::State() const {
  return nlohmann::json::parse(HttpGet(admin_url_ + "/api/v1/state").body, nullptr, false);
}

std::vector<std::string> ControlProcess::RootFingerprints() const {
  std::vector<std::string> out;
  const nlohmann::json state = State();
  if (!state.is_object() || !state.contains("bundle")) return out;
  for (const auto& root : state["bundle"]["roots"]) {
    out.push_back(root["fingerprint_sha256"].get<std::string>());
  }
  return out;
}

}  // namespace palisade::testing
