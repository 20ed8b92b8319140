#!/usr/bin/env bash
# test_model_s3.sh - the model-based random tester (tests/mount/test_model.sh,
# rustfx-model-test) on an s3:// mount of s3rver: at least 100,000 random
# ops compared with a reference directory, remounts in between, a 1 MiB
# block cache that evicts all the time.
#
# Starts s3rver (tests/s3/s3rver.sh) under a scratch directory, runs
# test_model.sh with FX_S3_ENV pointing at it (the mount then lives under a
# key prefix of its own), stops the server on exit. s3rver's listing defect
# (a delimiter listing omits a prefix holding only deeper keys) is not met:
# every directory of the model is made by mkdir, so each has its marker
# object, and a renamed directory takes its marker along.
#
# Settings: as test_model.sh (FX_MODEL_SEED, FX_MODEL_OPS, FX_MODEL_REMOUNTS,
# FX_MODEL_TIMEOUT). Prints test_model.sh's output and its closing line
# "N passed, N failed"; exits non-zero on any failure, 77 only when
# /dev/fuse is absent.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ ! -e /dev/fuse ]; then
	echo "SKIP: /dev/fuse is absent"
	exit 77
fi
DIR=$(mktemp -d /tmp/rustfx-model-s3.XXXXXX) || {
	echo "error: cannot create a scratch directory under /tmp" >&2
	exit 1
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$?
	"$HERE/s3rver.sh" stop "$DIR" >/dev/null 2>&1
	if [ -n "${FX_KEEP:-}" ]; then echo "FX_KEEP set: s3rver directory kept at $DIR" >&2; else rm -rf "$DIR"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$HERE/s3rver.sh" start "$DIR" >"$DIR/start.out" 2>&1; then
	cat "$DIR/start.out"
	echo "FAIL start s3rver (tests/s3/s3rver.sh start $DIR)"
	echo "0 passed, 1 failed"
	exit 1
fi
FX_S3_ENV=$DIR/env bash "$HERE/../mount/test_model.sh"
