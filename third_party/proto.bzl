"""cc_proto: a .proto file turned into a C++ library (and its gRPC service code).

Bazel 4.2.3's own proto rules need a protobuf source repository that cannot be
fetched offline, so a genrule calls Debian's protoc and grpc_cpp_plugin.
Generated headers are included by their workspace path, e.g.
"proto/palisade/config/v1/config.pb.h".
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def cc_proto(name, src, grpc = False, proto_deps = [], deps = [], visibility = None):
    """Generates and compiles one .proto.

    Args:
      name: the cc_library's name.
      src: the .proto file in this package.
      grpc: also generate gRPC service stubs.
      proto_deps: other cc_proto targets whose .proto files `src` imports.
      deps: extra C++ deps.
      visibility: the cc_library's visibility.
    """
    base = src[:-len(".proto")]
    outs = [base + ".pb.h", base + ".pb.cc"]
    cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR)"
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
        cmd += " --grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin"
    native.genrule(
        name = name + "_codegen",
        srcs = [src] + [d + "_srcs" for d in proto_deps],
        outs = outs,
        cmd = cmd + " $(location " + src + ")",
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = [src] + [d + "_srcs" for d in proto_deps],
        visibility = visibility,
    )
    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        # Generated code is not ours to fix; keep -Werror for the project's own.
        copts = ["-Wno-unused-parameter"],
        deps = proto_deps + deps + ["//third_party:protobuf"] +
               (["//third_party:grpcpp"] if grpc else []),
        visibility = visibility,
    )
