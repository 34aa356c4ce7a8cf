#!/bin/sh
# Bazel's --workspace_status_command for release builds (--config=release):
# the git commit, which //runtime/metrics:build_revision stamps into
# palisade_build_info{revision}. Ordinary builds and tests do not run it, so
# a new commit rebuilds nothing there (their revision reads "unknown").
revision=$(git rev-parse HEAD 2>/dev/null) || revision=unknown
if [ "$revision" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then
  revision="$revision-dirty"
fi
echo "STABLE_PALISADE_GIT_REVISION $revision"
