#!/usr/bin/env bash
# suite.sh KIND [SUITE...] - real-mount suites (by default tests/mount/
# test_shell_tools.sh and test_persist.sh) with the s3:// backend against a
# real server of KIND (rgw: Ceph radosgw, the reference; s3rver: the quick
# fake S3): starts it under a scratch directory, runs each suite with
# FX_S3_ENV pointing at it (each suite then works under its own key prefix),
# stops it on exit. Run through test_suite_rgw.sh, test_suite_s3rver.sh and
# test_model_s3.sh. FX_SUITE_TIMEOUT: seconds per suite (600).
#
# Prints each suite's output, then "N passed, N failed" over all of them;
# exits non-zero on any failure, or when a suite ended without its closing
# line. Exits 77 (skip) only when /dev/fuse is absent, as the suites do.

set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIND=${1:?usage: suite.sh rgw|s3rver [SUITE...]}
case $KIND in
rgw | s3rver) ;;
*)
	echo "error: unknown server kind '$KIND'" >&2
	exit 2
	;;
esac
shift
SUITES=("$@")
[ $# -gt 0 ] || SUITES=("$HERE/../mount/test_shell_tools.sh" "$HERE/../mount/test_persist.sh")
SUITE_TIMEOUT=${FX_SUITE_TIMEOUT:-600} # seconds, per suite

if [ ! -e /dev/fuse ]; then
	echo "SKIP: /dev/fuse is absent"
	exit 77
fi
DIR=$(mktemp -d "/tmp/rustfx-suite-$KIND.XXXXXX") || {
	echo "error: cannot create a scratch directory under /tmp" >&2
	exit 1
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$?
	"$HERE/$KIND.sh" stop "$DIR" >/dev/null 2>&1
	if [ -n "${FX_KEEP:-}" ]; then echo "FX_KEEP set: $KIND directory kept at $DIR" >&2; else rm -rf "$DIR"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$HERE/$KIND.sh" start "$DIR" >"$DIR/start.out" 2>&1; then
	cat "$DIR/start.out"
	echo "FAIL start $KIND (tests/s3/$KIND.sh start $DIR)"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0 failed=0
for suite in "${SUITES[@]}"; do
	name=$(basename "$suite" .sh)
	echo "# ---- $name on $KIND"
	out=$DIR/$name.out
	FX_S3_ENV=$DIR/env timeout -k 10 "$SUITE_TIMEOUT" bash "$suite" >"$out" 2>&1
	rc=$?
	cat "$out"
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$last" ]; then
		echo "FAIL $name ended without its closing line (exit $rc$([ "$rc" -eq 124 ] && echo ": timed out after ${SUITE_TIMEOUT}s"))"
		failed=$((failed + 1))
		continue
	fi
	p=${last%% passed*} f=${last#*passed, }
	f=${f%% failed}
	passed=$((passed + p)) failed=$((failed + f))
	echo "# ---- $name on $KIND: $last (exit $rc)"
	if [ "$f" -eq 0 ] && [ "$rc" -ne 0 ]; then
		echo "FAIL $name exited $rc with no failed check"
		failed=$((failed + 1))
	fi
done

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
