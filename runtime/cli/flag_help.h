// --help for the binaries: Abseil's own filters its listing by file name and
// finds none of our flags, so each binary lists the flags it names itself.
#ifndef PALISADE_RUNTIME_CLI_FLAG_HELP_H_
#define PALISADE_RUNTIME_CLI_FLAG_HELP_H_

#include <optional>
#include <string>
#include <vector>

namespace palisade::cli {

// If argv asks for help (--help, -help or -h before any "--"), the
// positional words before it (e.g. {"token", "create"}); otherwise nullopt.
std::optional<std::vector<std::string>> HelpRequest(int argc, char** argv);

// One line per flag: "  --name (default: VALUE)  help". String defaults are
// quoted so an empty one shows as "".
std::string FormatFlags(const std::vector<std::string>& names);

// Makes Abseil's --helpshort/--helpfull list `main_file`'s flags (e.g.
// "control/main.cc") rather than none, and Abseil's own --version print
// `version_line` and exit 0. (A binary must not define its own --version: it
// collides with Abseil's FLAGS_version when Abseil is linked statically.)
void ConfigureAbseilUsage(const char* main_file, std::string version_line);

}  // namespace palisade::cli

#endif  // PALISADE_RUNTIME_CLI_FLAG_HELP_H_
