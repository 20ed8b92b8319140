# report.sh - what every shell suite prints: "ok"/"FAIL" lines, comments, and
# the closing line "N passed, N failed" that tools/check collects. Sourced by
# tests/mount/lib.sh and the tests/s3 scripts; no side effects but counters.

FX_PASSED=0
FX_FAILED=0

fx_log() { printf '# %s\n' "$*"; }

fx_pass() {
	FX_PASSED=$((FX_PASSED + 1))
	printf 'ok   %s\n' "$1"
}

# fx_fail DESCRIPTION [CONTEXT...]: every context line is indented under it.
fx_fail() {
	FX_FAILED=$((FX_FAILED + 1))
	printf 'FAIL %s\n' "$1"
	shift
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/       | /'
	done
}

# fx_report: the closing line; fails after any failed check.
fx_report() {
	printf '%d passed, %d failed\n' "$FX_PASSED" "$FX_FAILED"
	[ "$FX_FAILED" -eq 0 ]
}
