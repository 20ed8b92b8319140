#!/usr/bin/env bash
# test_suite_s3rver.sh - the real-mount suites against s3rver, the quick fake
# S3. It has measured defects (tests/s3/README.md); the checks they break are
# skipped, each with a printed "skip: CHECK (s3rver defect: ...)" line: the
# suites ask fx_defect (tests/mount/lib.sh), and FX_S3_DEFECTS names them.
export FX_S3_DEFECTS="long_segment deep_prefix suffix_range multipart_etag no_sigcheck"
exec bash "$(dirname "${BASH_SOURCE[0]}")/suite.sh" s3rver
