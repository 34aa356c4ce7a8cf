// --help on palisade-proxy, palisade-control and each of its subcommands
// lists that command's flags with their defaults, exits 0, and every flag the
// usage texts and READMEs name is one the parser knows (so a spelling such as
// --admin-address-file for --admin_address_file fails here). The oracle for
// "which flags exist, with which defaults" is Abseil's own --helpfull listing
// of each binary's main.cc. Real binaries; each run exits at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/util/control_process.h"
#include "tests/util/proxy_process.h"
#include "tests/util/subprocess.h"

namespace palisade::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(20);

// Name -> default as --helpfull shows it (strings quoted), for every flag
// Abseil registered in the binary (`main_file` restricts to that file).
std::map<std::string, std::string> RegisteredFlags(const std::string& binary,
                                                   const std::string& main_file = "") {
  const CommandResult result = RunCommand({binary, "--helpfull"}, kTimeout);
  std::map<std::string, std::string> flags;
  bool in_section = main_file.empty();
  std::string entry;
  auto flush = [&] {
    static const std::regex kEntry(R"(--([A-Za-z0-9_]+) \(.*\); default: (.*);)");
    std::smatch m;
    // An empty non-string default (a list) shows as "" in our listing.
    if (in_section && std::regex_search(entry, m, kEntry)) {
      flags[m[1]] = m[2].length() == 0 ? std::string("\"\"") : std::string(m[2]);
    }
    entry.clear();
  };
  for (const absl::string_view line : absl::StrSplit(result.output, '\n')) {
    if (absl::StartsWith(line, "  Flags from ")) {
      flush();
      in_section = main_file.empty() || absl::StrContains(line, main_file);
    } else if (absl::StartsWith(line, "    --")) {
      flush();
      entry = std::string(line);
    } else if (!entry.empty()) {
      entry += " " + std::string(absl::StripAsciiWhitespace(line));
    }
  }
  flush();
  // Abseil's parser takes its help flags and --version (which the binaries
  // configure rather than define: runtime/cli/flag_help.h) without listing them.
  if (main_file.empty()) {
    for (const char* name : {"help", "helpfull", "helpshort", "version"}) {
      flags.emplace(name, "false");
    }
  }
  EXPECT_FALSE(flags.empty()) << result.command << " listed no flags:\n" << result.output;
  return flags;
}

// Every --word in `text` (a help text, a README command line).
std::set<std::string> MentionedFlags(const std::string& text) {
  static const std::regex kFlag(R"(--([A-Za-z][A-Za-z0-9_-]*))");
  std::set<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), kFlag), end; it != end; ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

void ExpectMentionedFlagsExist(const std::string& where, const std::string& text,
                               const std::map<std::string, std::string>& registered) {
  for (const std::string& name : MentionedFlags(text)) {
    EXPECT_TRUE(registered.count(name))
        << where << " names --" << name << ", which is not a flag of the binary";
  }
}

// `output` lists --name with its default, as "--name (default: VALUE)".
void ExpectListed(const CommandResult& result, const std::string& name,
                  const std::string& default_value) {
  EXPECT_THAT(result.output, HasSubstr("--" + name + " (default: " + default_value + ")"))
      << result.command << " does not list --" << name << " with its default";
}

TEST(CliHelpTest, ProxyHelpListsEveryFlagWithItsDefault) {
  const auto flags = RegisteredFlags(kProxyBinary, "proxy/main.cc");
  EXPECT_TRUE(flags.count("admin_address_file"));
  const CommandResult help = RunCommand({kProxyBinary, "--help"}, kTimeout);
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_THAT(help.output, ::testing::Not(HasSubstr("No flags matched")));
  for (const auto& [name, default_value] : flags) ExpectListed(help, name, default_value);
  // The usage text and the flag descriptions name only real flags.
  ExpectMentionedFlagsExist(help.command, help.output, RegisteredFlags(kProxyBinary));
}

// Of control/main.cc's flags, those every admin-API subcommand takes.
const std::vector<std::string> kClientFlags = {"admin", "state_dir", "admin_token_file"};

std::vector<std::string> With(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

TEST(CliHelpTest, ControlHelpListsEveryFlagWithItsDefault) {
  const auto flags = RegisteredFlags(kControlBinary, "control/main.cc");
  const CommandResult help = RunCommand({kControlBinary, "--help"}, kTimeout);
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_THAT(help.output, ::testing::Not(HasSubstr("No flags matched")));
  for (const auto& [name, default_value] : flags) ExpectListed(help, name, default_value);
  ExpectMentionedFlagsExist(help.command, help.output, RegisteredFlags(kControlBinary));
}

TEST(CliHelpTest, EachControlSubcommandListsItsFlags) {
  const auto flags = RegisteredFlags(kControlBinary, "control/main.cc");
  const auto all = RegisteredFlags(kControlBinary);
  // serve takes every flag whose description says "serve:", and the admin
  // address and credential (it writes the latter).
  std::vector<std::string> serve = kClientFlags;
  const CommandResult full = RunCommand({kControlBinary, "--helpfull"}, kTimeout);
  for (const auto& [name, unused] : flags) {
    (void)unused;
    if (absl::StrContains(full.output, "--" + name + " (serve:")) serve.push_back(name);
  }
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"serve"}, serve},
      {{"token"}, With(kClientFlags, {"spiffe_id", "ttl", "single_use", "id"})},
      {{"token", "create"}, With(kClientFlags, {"spiffe_id", "ttl", "single_use"})},
      {{"token", "revoke"}, With(kClientFlags, {"id"})},
      {{"token", "list"}, kClientFlags},
      {{"register"}, With(kClientFlags, {"spiffe_id"})},
      {{"deregister"}, With(kClientFlags, {"spiffe_id"})},
      {{"rollover"}, kClientFlags},
      {{"rollover", "start"}, kClientFlags},
      {{"rollover", "status"}, kClientFlags},
      {{"status"}, kClientFlags},
  };
  for (const auto& [words, expected] : cases) {
    std::vector<std::string> argv = {kControlBinary};
    argv.insert(argv.end(), words.begin(), words.end());
    argv.push_back("--help");
    const CommandResult help = RunCommand(argv, kTimeout);
    EXPECT_EQ(help.exit_code, 0) << help.command << "\n" << help.output;
    for (const std::string& name : expected) {
      ASSERT_TRUE(flags.count(name)) << "--" << name;
      ExpectListed(help, name, flags.at(name));
    }
    // Not serve's flags on a client subcommand, and the other way round.
    if (words[0] != "serve") {
      EXPECT_THAT(help.output, ::testing::Not(HasSubstr("--trust_domain (default")))
          << help.command;
    } else {
      EXPECT_THAT(help.output, ::testing::Not(HasSubstr("--spiffe_id (default"))) << help.command;
    }
    ExpectMentionedFlagsExist(help.command, help.output, all);
  }
}

TEST(CliHelpTest, RolloverAndTokenAlonePrintTheirVerbs) {
  const CommandResult rollover = RunCommand({kControlBinary, "rollover"}, kTimeout);
  EXPECT_EQ(rollover.exit_code, 2) << rollover.output;
  EXPECT_THAT(rollover.output, HasSubstr("start"));
  EXPECT_THAT(rollover.output, HasSubstr("status"));
  EXPECT_THAT(rollover.output, ::testing::Not(HasSubstr("unknown subcommand")));
  const CommandResult token = RunCommand({kControlBinary, "token"}, kTimeout);
  EXPECT_EQ(token.exit_code, 2) << token.output;
  for (const char* verb : {"create", "revoke", "list"}) {
    EXPECT_THAT(token.output, HasSubstr(verb));
  }
  // A wrong verb still names itself and lists the right ones.
  const CommandResult wrong = RunCommand({kControlBinary, "rollover", "begin"}, kTimeout);
  EXPECT_EQ(wrong.exit_code, 2) << wrong.output;
  EXPECT_THAT(wrong.output, HasSubstr("begin"));
  EXPECT_THAT(wrong.output, HasSubstr("start"));
}

// Command lines in the READMEs (continuation lines joined) name only real
// flags of the binary they run. inject has its own flags and is skipped.
TEST(CliHelpTest, ReadmeCommandLinesNameRealFlags) {
  const std::map<std::string, std::map<std::string, std::string>> registered = {
      {"palisade-proxy", RegisteredFlags(kProxyBinary)},
      {"palisade-control", RegisteredFlags(kControlBinary)}};
  for (const char* path : {"README.md", "control/README.md"}) {
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::string line, joined;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      joined += line;
      if (!line.empty() && line.back() == '\\') {
        joined.pop_back();
        continue;
      }
      for (const auto& [binary, flags] : registered) {
        const size_t at = joined.rfind(binary + " ");
        if (at == std::string::npos) continue;
        const std::string command = joined.substr(at);
        if (absl::StrContains(command, binary + " inject")) continue;
        ExpectMentionedFlagsExist(std::string(path) + ":" + std::to_string(number), command, flags);
      }
      joined.clear();
    }
  }
}

}  // namespace
}  // namespace palisade::testing
