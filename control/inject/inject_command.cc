#include "control/inject/inject_command.h"

#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control/inject/admission_review.h"
#include "control/inject/inject_options.h"
#include "control/inject/manifest_injector.h"
#include "runtime/status/status_macros.h"

namespace palisade::inject {
namespace {

struct Flag {
  const char* name;
  const char* help;
  // Sets the value; an error says why the text is not acceptable.
  std::function<absl::Status(const std::string&)> set;
  bool is_bool = false;
};

absl::Status SetInt(const std::string& text, int64_t* value) {
  if (!absl::SimpleAtoi(text, value)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a number"));
  }
  return absl::OkStatus();
}

absl::Status SetPort(const std::string& text, int* port) {
  int64_t value = 0;
  RETURN_IF_ERROR(SetInt(text, &value));
  *port = static_cast<int>(value);
  return absl::OkStatus();
}

absl::Status SetBool(const std::string& text, bool* value) {
  if (text == "true" || text == "1") return (*value = true), absl::OkStatus();
  if (text == "false" || text == "0") return (*value = false), absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not true or false"));
}

std::vector<Flag> MakeFlags(InjectOptions* o, bool* admission_review, bool* quiet) {
  auto str = [](std::string* field) {
    return [field](const std::string& v) { return (*field = v), absl::OkStatus(); };
  };
  auto port = [](int* field) {
    return [field](const std::string& v) { return SetPort(v, field); };
  };
  auto number = [](int64_t* field) {
    return [field](const std::string& v) { return SetInt(v, field); };
  };
  auto flag = [](bool* field) {
    return [field](const std::string& v) { return SetBool(v, field); };
  };
  return {
      {"proxy_image", "image with palisade-proxy and the capture script", str(&o->proxy_image)},
      {"image_pull_policy", "Always, IfNotPresent or Never", str(&o->image_pull_policy)},
      {"proxy_config_map", "ConfigMap with proxy.yaml, in the pod's namespace",
       str(&o->proxy_config_map)},
      {"bundle_config_map", "ConfigMap with root-bundle.pem, in the pod's namespace",
       str(&o->bundle_config_map)},
      {"token_audience", "audience of the projected service-account token",
       str(&o->token_audience)},
      {"token_expiration_seconds", "its lifetime (at least 600)",
       number(&o->token_expiration_seconds)},
      {"proxy_uid", "uid the proxy runs as; the capture lets its traffic by",
       number(&o->proxy_uid)},
      {"inbound_port", "the proxy's inbound capture port", port(&o->inbound_port)},
      {"outbound_port", "the proxy's outbound capture port", port(&o->outbound_port)},
      {"health_port", "the proxy's public /healthz /ready /metrics port", port(&o->health_port)},
      {"capture_ipv6", "capture IPv6 too (ip6tables)", flag(&o->capture_ipv6), true},
      {"exclude_inbound_ports", "ports never captured inbound (P,P)",
       [o](const std::string& v) -> absl::Status {
         absl::StatusOr<std::vector<int>> ports = ParsePortList(v);
         if (ports.ok()) o->exclude_inbound_ports = *ports;
         return ports.status();
       }},
      {"exclude_outbound_ports", "ports never captured outbound (P,P; default 53)",
       [o](const std::string& v) -> absl::Status {
         absl::StatusOr<std::vector<int>> ports = ParsePortList(v);
         if (ports.ok()) o->exclude_outbound_ports = *ports;
         return ports.status();
       }},
      {"exclude_outbound_cidrs", "destinations never captured (CIDR,CIDR)",
       [o](const std::string& v) -> absl::Status {
         absl::StatusOr<std::vector<std::string>> cidrs = ParseCidrList(v);
         if (cidrs.ok()) o->exclude_outbound_cidrs = *cidrs;
         return cidrs.status();
       }},
      {"proxy_cpu_request", "proxy CPU request (\"\" for none)", str(&o->proxy_cpu_request)},
      {"proxy_memory_request", "proxy memory request", str(&o->proxy_memory_request)},
      {"proxy_cpu_limit", "proxy CPU limit", str(&o->proxy_cpu_limit)},
      {"proxy_memory_limit", "proxy memory limit", str(&o->proxy_memory_limit)},
      {"admission_review", "read an AdmissionReview, write the webhook's answer",
       flag(admission_review), true},
      {"quiet", "print nothing on stderr but errors", flag(quiet), true},
  };
}

void PrintUsage(const std::vector<Flag>& flags, std::ostream& out) {
  out << "Adds the Palisade sidecar to Kubernetes manifests.\n"
         "  inject [flags] [FILE...]               manifests in (FILE - or none: stdin), out on "
         "stdout\n"
         "  inject --admission_review [flags] [FILE]  AdmissionReview in, the webhook's answer "
         "out\n"
         "Flags (--name=value):\n";
  for (const Flag& f : flags) out << "  --" << f.name << ": " << f.help << "\n";
}

bool ReadInput(const std::string& file, std::istream& in, std::string* text, std::ostream& err) {
  std::ostringstream buffer;
  if (file == "-") {
    buffer << in.rdbuf();
  } else {
    std::ifstream f(file, std::ios::binary);
    if (!f) {
      err << "inject: cannot read " << file << "\n";
      return false;
    }
    buffer << f.rdbuf();
  }
  *text = buffer.str();
  return true;
}

}  // namespace

int RunInjectCommand(int argc, char** argv, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  InjectOptions options;
  bool admission_review = false;
  bool quiet = false;
  const std::vector<Flag> flags = MakeFlags(&options, &admission_review, &quiet);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      PrintUsage(flags, out);
      return 0;
    }
    if (!absl::StartsWith(arg, "--")) {
      files.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags) {
      if (name == f.name || (f.is_bool && name == absl::StrCat("no", f.name))) flag = &f;
    }
    if (flag == nullptr) {
      err << "inject: unknown flag --" << name << " (see --help)\n";
      return 2;
    }
    if (!has_value) {
      if (flag->is_bool) {
        value = name == flag->name ? "true" : "false";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        err << "inject: --" << name << " needs a value\n";
        return 2;
      }
    }
    if (absl::Status s = flag->set(value); !s.ok()) {
      err << "inject: --" << name << ": " << s.message() << "\n";
      return 2;
    }
  }
  if (absl::Status s = ValidateInjectOptions(options); !s.ok()) {
    err << "inject: --" << s.message() << "\n";
    return 2;
  }
  if (files.empty()) files.push_back("-");

  if (admission_review) {
    if (files.size() != 1) {
      err << "inject: --admission_review reads one AdmissionReview\n";
      return 2;
    }
    std::string text;
    if (!ReadInput(files[0], in, &text, err)) return 1;
    absl::StatusOr<std::string> answer = HandleAdmissionReview(text, options);
    if (!answer.ok()) {
      err << "inject: " << answer.status().message() << "\n";
      return 1;
    }
    out << *answer << "\n";
    return 0;
  }

  std::string all;
  for (const std::string& file : files) {
    std::string text;
    if (!ReadInput(file, in, &text, err)) return 1;
    InjectReport report;
    absl::StatusOr<std::string> injected = InjectManifests(text, options, &report);
    if (!injected.ok()) {
      err << "inject: " << (file == "-" ? "stdin" : file) << ": " << injected.status().message()
          << "\n";
      return 1;
    }
    if (!all.empty()) {
      if (all.back() != '\n') all += '\n';
      if (!absl::StartsWith(*injected, "---")) all += "---\n";
    }
    all += *injected;
    if (!quiet) {
      for (const std::string& w : report.warnings) err << "inject: warning: " << w << "\n";
      for (const std::string& s : report.injected) err << "inject: injected " << s << "\n";
      for (const std::string& s : report.skipped) err << "inject: left alone " << s << "\n";
    }
  }
  out << all;
  return 0;
}

int RunInjectCommand(int argc, char** argv) {
  return RunInjectCommand(argc, argv, std::cin, std::cout, std::cerr);
}

}  // namespace palisade::inject
