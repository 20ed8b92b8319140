#!/usr/bin/env bash
# test_suite_rgw.sh - the real-mount suites against Ceph radosgw, the reference
# server (it checks signatures and lists correctly). See suite.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/suite.sh" rgw
