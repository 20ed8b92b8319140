#!/usr/bin/env bash
#
# run.sh - the concurrency stress: mount a file:// bucket with rustfx (built
# with ThreadSanitizer by tools/check --tsan), run rustfx-stress on it (8
# threads of mixed reads, writes, truncates, renames, unlinks, mkdir/rmdir
# and listings, 20 s by default) while the stats file is read in a loop,
# unmount, and require: the stress program's checks all held, the daemon
# exited cleanly, and ThreadSanitizer reported nothing.
#
# Owns: the mount options of the stress (a small cache, so eviction runs
# too; a trace, so the trace writer is shared), the TSan options and where
# reports go. Does not own: the workload (stress.c) or mounting (lib.sh).
#
# Usage: tests/stress/run.sh [-d SECONDS] [-t THREADS] [-s SEED]
#   FX_TEST_RUSTFX  the rustfx binary (default: build/tools/rustfx)
#   FX_TEST_STRESS  the stress binary (default: beside it, tests/stress/)
# Reports are printed and kept in <build>/tsan-reports/ (the build tree of
# FX_TEST_RUSTFX). A daemon built without TSan still runs the stress and
# its checks; the script then says that races were not looked for.

# lib.sh works in a scratch directory: make given paths absolute first.
[ -n "${FX_TEST_RUSTFX:-}" ] && FX_TEST_RUSTFX=$(realpath -- "$FX_TEST_RUSTFX")
[ -n "${FX_TEST_STRESS:-}" ] && FX_TEST_STRESS=$(realpath -- "$FX_TEST_STRESS")
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../mount/lib.sh"

secs=20
threads=8
seed=$(date +%s)
while getopts "d:t:s:" opt; do
	case $opt in
	d) secs=$OPTARG ;;
	t) threads=$OPTARG ;;
	s) seed=$OPTARG ;;
	*) echo "usage: $0 [-d SECONDS] [-t THREADS] [-s SEED]" >&2; exit 2 ;;
	esac
done

BUILD=$(cd "$(dirname "$RUSTFX_BIN")/.." && pwd)
STRESS=${FX_TEST_STRESS:-$BUILD/tests/stress/rustfx-stress}
SUPP=$FX_LIB_DIR/../stress/tsan.supp
fx_setup
fx_require_fuse
[ -x "$STRESS" ] || fx_abort "stress binary" "not found at $STRESS (set FX_TEST_STRESS)"

tsan=no
if nm "$RUSTFX_BIN" 2>/dev/null | grep -q '__tsan_init'; then tsan=yes; fi
if [ "$tsan" = no ]; then
	fx_log "note: $RUSTFX_BIN is not built with ThreadSanitizer; races are not looked for"
fi
REPORTS=$FX_TMP/tsan
mkdir -p "$REPORTS"
# halt_on_error=0: every race is reported, the daemon goes on.
export TSAN_OPTIONS="log_path=$REPORTS/tsan halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$SUPP"

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
mkdir -p "$BUCKET"
fx_mount "$BUCKET" "$MNT" "cache_size=8M,trace=$FX_TMP/stress.rfxtrace" ||
	fx_abort "mount for the stress" "see above"
mkdir -p "$MNT/work"

# Readers of the control files, racing with everything else.
(
	end=$((SECONDS + secs))
	while [ "$SECONDS" -lt "$end" ]; do
		cat "$MNT/.rustfx/stats" >/dev/null 2>&1
		sleep 0.05
	done
) &
stats_pid=$!

fx_run "$STRESS" -t "$threads" -d "$secs" -s "$seed" "$MNT/work"
printf '%s\n' "$FX_OUT"
[ -n "$FX_ERR" ] && printf '%s\n' "$FX_ERR" | fx_head
stress_rc=$FX_RC
wait "$stats_pid"
fx_eq "stress: every check held (seed $seed)" 0 "$stress_rc"

fx_umount "$MNT"
fx_eq "daemon exits 0 after unmount (66: TSan reports)" 0 "$FX_DAEMON_RC"

n=0
reports=("$REPORTS"/tsan*)
if [ -e "${reports[0]}" ]; then
	n=$(cat "${reports[@]}" | grep -c '^WARNING: ThreadSanitizer')
	keep=$BUILD/tsan-reports # this run's only
	rm -rf "$keep"
	mkdir -p "$keep"
	cp "${reports[@]}" "$keep/"
	fx_log "TSan reports kept in $keep:"
	cat "${reports[@]}" | head -n 120
fi
if [ "$tsan" = yes ]; then
	fx_eq "ThreadSanitizer reports" 0 "$n"
else
	fx_skip "ThreadSanitizer reports" "the daemon is not built with TSan (tools/check --tsan)"
fi
fx_finish
