// The `inject` command line: manifests (files, or stdin) in, injected
// manifests on stdout; or, with --admission_review, one AdmissionReview in
// and the webhook's answer out. It parses its own flags (no absl flags), so
// palisade-control can hand it its arguments after the word "inject".
//
//   palisade-inject [flags] [FILE...]        FILE "-" or none: stdin
//   palisade-inject --admission_review [flags] [FILE]
#ifndef PALISADE_CONTROL_INJECT_INJECT_COMMAND_H_
#define PALISADE_CONTROL_INJECT_INJECT_COMMAND_H_

#include <iosfwd>

namespace palisade::inject {

// argv[0] is the program name. Returns the exit code: 0 done, 1 a document
// could not be injected or a file read, 2 a usage error.
int RunInjectCommand(int argc, char** argv);

// The same, with the streams given (for tests).
int RunInjectCommand(int argc, char** argv, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace palisade::inject

#endif  // PALISADE_CONTROL_INJECT_INJECT_COMMAND_H_
