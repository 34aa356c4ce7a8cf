// palisade-inject: the sidecar injector on its own, until it is wired in as
// `palisade-control inject` (the same RunInjectCommand).
#include "control/inject/inject_command.h"

int main(int argc, char** argv) { return palisade::inject::RunInjectCommand(argc, argv); }
