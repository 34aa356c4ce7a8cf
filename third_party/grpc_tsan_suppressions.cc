// ThreadSanitizer suppressions for Debian's gRPC, linked only into TSan
// builds. gRPC's shared libraries are not instrumented and synchronise
// through Abseil (also uninstrumented), so TSan sees their internal fd and
// memory hand-offs without the ordering.
//
// Only patterns that match frames inside those shared libraries (by module
// name, or by a namespace that only their own code uses). TSan matches a
// "race:" pattern against every frame of both stacks, so a function-name
// pattern for code that is also compiled into our binaries (absl::* for
// Abseil's header-only containers) hid races in our own code:
// grpc_tsan_suppressions_test proves such a race is reported.
extern "C" const char* __tsan_default_suppressions() {
  return "race:*libgrpc_unsecure.so*\n"
         "race:*libgrpc++_unsecure.so*\n"
         "race:*libgpr.so*\n"
         "race:grpc_event_engine::*\n"
         "race:grpc_core::*\n"
         "race:*libabsl_*\n"
         "race:grpc::*\n"
         "race:*libupb.so*\n"
         "race:*libcares.so*\n";
}
