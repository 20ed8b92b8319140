#!/usr/bin/env bash
#
# run.sh - run the libFuzzer harnesses of tests/fuzz on their corpora.
#
# Owns: running each harness for a fixed time on a copy of its checked-in
# corpus (tests/fuzz/corpus/<name>/, never modified here), keeping what a
# crash leaves behind, and one summary line per harness.
# Does not own: building the harnesses (cmake -DRUSTFX_FUZZ=ON, target
# "fuzz"; tools/check --fuzz does both) or the invariants (fuzz_*.c).
#
# Usage: tests/fuzz/run.sh [-b BUILD_DIR] [-t SECONDS] [-w WORK_DIR] [NAME...]
#   -b  build tree holding tests/fuzz/fuzz_* (default: build-fuzz)
#   -t  seconds per harness (default 10)
#   -w  keep each harness's working corpus in WORK_DIR/<name>/ and grow it
#       across runs (long runs); default: a temporary copy, removed after
#   NAME  harnesses to run, e.g. s3_list trace (default: all that are built)
# A crash's input is copied to BUILD_DIR/fuzz-crashes/<name>/; replay it
# with BUILD_DIR/tests/fuzz/fuzz_<name> FILE. Exit: 0 when no harness
# crashed, 1 otherwise, 2 on bad usage.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build-fuzz
secs=10
work=""
while getopts "b:t:w:" opt; do
	case $opt in
	b) build=$(cd "$OPTARG" && pwd) || exit 2 ;;
	t) secs=$OPTARG ;;
	w) work=$OPTARG ;;
	*) sed -n '/^# Usage/,/^# with/p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for bin in "$build"/tests/fuzz/fuzz_*; do
		[ -x "$bin" ] && names+=("${bin##*/fuzz_}")
	done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "error: no fuzz harnesses in $build/tests/fuzz (build with -DRUSTFX_FUZZ=ON, target fuzz)" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/rustfx-fuzz.XXXXXX) || exit 1
TIMEFORMAT='%U %S' # user and system seconds of each run
trap 'rm -rf "$tmp"' EXIT
failed=0
for name in "${names[@]}"; do
	bin=$build/tests/fuzz/fuzz_$name
	seeds=$top/tests/fuzz/corpus/$name
	if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
		echo "error: fuzz_$name: no harness at $bin or no corpus at $seeds" >&2
		failed=1
		continue
	fi
	if [ -n "$work" ]; then
		corpus=$work/$name
		mkdir -p "$corpus"
	else
		corpus=$tmp/$name
		mkdir -p "$corpus"
	fi
	cp -n "$seeds"/* "$corpus"/
	before=$(find "$corpus" -type f | wc -l)
	mkdir -p "$tmp/art-$name"
	log=$tmp/$name.log
	# libFuzzer adds what it finds to $corpus, a copy: the seeds stay as they are.
	# -max_total_time is wall time; the CPU time it got is measured (TIMEFORMAT).
	{ time "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$tmp/art-$name/" "$corpus" >"$log" 2>&1; } 2>"$tmp/$name.cpu"
	rc=$?
	cpu=$(tail -n 1 "$tmp/$name.cpu" | awk '{ printf "%.0f", $1 + $2 }')
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	after=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz_%s: ok, %s runs in %s s (%s CPU-s), corpus %s -> %s inputs\n' "$name" \
			"${runs:-?}" "$secs" "$cpu" "$before" "$after"
		continue
	fi
	failed=1
	mkdir -p "$build/fuzz-crashes/$name"
	cp "$tmp/art-$name"/* "$build/fuzz-crashes/$name/" 2>/dev/null
	printf 'fuzz_%s: FAILED (exit %s) after %s runs; input(s) kept in %s:\n' "$name" "$rc" \
		"${runs:-?}" "$build/fuzz-crashes/$name"
	find "$tmp/art-$name" -type f -printf '  %f\n'
	grep -E "fuzz invariant broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|^    #[0-9] " \
		"$log" | head -n 20 | sed 's/^/  /'
done
exit "$failed"
