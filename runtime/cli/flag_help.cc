#include "runtime/cli/flag_help.h"

#include <utility>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace palisade::cli {

std::optional<std::vector<std::string>> HelpRequest(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg == "--help" || arg == "-help" || arg == "-h") return words;
    if (!absl::StartsWith(arg, "-")) words.push_back(arg);
  }
  return std::nullopt;
}

std::string FormatFlags(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (name == "version") {  // Abseil's own (ConfigureAbseilUsage), not in its registry
      absl::StrAppend(&out, "  --version (default: false)  Print the version and exit.\n");
      continue;
    }
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) {  // a table naming a flag that does not exist: say so
      absl::StrAppend(&out, "  --", name, " (NOT A FLAG: fix the help table)\n");
      continue;
    }
    std::string value = flag->DefaultValue();
    if (flag->IsOfType<std::string>() || value.empty()) value = absl::StrCat("\"", value, "\"");
    absl::StrAppend(&out, "  --", name, " (default: ", value, ")  ",
                    absl::StrReplaceAll(flag->Help(), {{"\n", " "}}), "\n");
  }
  return out;
}

namespace {
const char* main_file_for_usage = "";
bool IsMainFile(absl::string_view file) { return absl::EndsWith(file, main_file_for_usage); }
}  // namespace

void ConfigureAbseilUsage(const char* main_file, std::string version_line) {
  main_file_for_usage = main_file;
  absl::FlagsUsageConfig config;
  config.version_string = [version_line = std::move(version_line)] { return version_line + "\n"; };
  config.contains_helpshort_flags = &IsMainFile;
  config.contains_help_flags = &IsMainFile;
  absl::SetFlagsUsageConfig(config);
}

}  // namespace palisade::cli
