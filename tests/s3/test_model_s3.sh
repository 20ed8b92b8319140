#!/usr/bin/env bash
# test_model_s3.sh - the model-based random tester (tests/mount/test_model.sh,
# rustfx-model-test) on an s3:// mount of s3rver: at least 100,000 random
# ops compared with a reference directory, remounts in between, a 1 MiB
# block cache that evicts all the time.
#
# suite.sh starts s3rver under a scratch directory, runs test_model.sh with
# FX_S3_ENV pointing at it (the mount then lives under a key prefix of its
# own), and stops the server on exit. s3rver's listing defect
# (a delimiter listing omits a prefix holding only deeper keys) is not met:
# every directory of the model is made by mkdir, so each has its marker
# object, and a renamed directory takes its marker along.
#
# Settings: as test_model.sh (FX_MODEL_SEED, FX_MODEL_OPS, FX_MODEL_REMOUNTS,
# FX_MODEL_TIMEOUT). Prints test_model.sh's output and its closing line
# "N passed, N failed"; exits non-zero on any failure, 77 only when
# /dev/fuse is absent.

# The model's own limit (FX_MODEL_TIMEOUT, 600 s) comes first.
FX_SUITE_TIMEOUT=${FX_SUITE_TIMEOUT:-800} exec "$(dirname "${BASH_SOURCE[0]}")/suite.sh" s3rver \
	"$(dirname "${BASH_SOURCE[0]}")/../mount/test_model.sh"
