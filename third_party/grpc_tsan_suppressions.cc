// ThreadSanitizer suppressions for Debian's gRPC, linked only into TSan
// builds. gRPC's shared libraries are not instrumented and synchronise
// through Abseil (also uninstrumented), so TSan sees their internal fd and
// memory hand-offs without the ordering. Our own code does not use absl::Mutex
// (see proxy/sync/mutex.h), so it stays fully checked.
extern "C" const char* __tsan_default_suppressions() {
  return "race:*libgrpc_unsecure.so*\n"
         "race:*libgrpc++_unsecure.so*\n"
         "race:*libgpr.so*\n"
         "race:grpc_event_engine::*\n"
         "race:grpc_core::*\n"
         "race:absl::*\n"
         "race:*libabsl_*\n"
         "race:grpc::*\n"
         "race:*libupb.so*\n"
         "race:*libcares.so*\n";
}
