#!/usr/bin/env bash
#
# test_crash.sh - issue F7 point 3: kill -9 of the daemon, then a remount.
#   (a) during writes: right after close()/fsync() returned, and while a big
#       cp is in progress: what was acknowledged is in the bucket; the
#       unacknowledged staging file is kept and reported at the next mount
#       (never silently dropped) and holds a prefix of what was written; the
#       half-written file is absent, empty or whole in the bucket;
#   (b) during cache inserts (a big cold read), at random moments, three
#       times over one cache: each remount opens the cache, serves no corrupt
#       block (cmp of every file with its source) and `rustfx cache verify`
#       finds 0 corrupt blocks;
#   (c) during model saves (prefetch=snn): the daemon is killed while
#       model.mdb.tmp exists (the save at unmount), then at random moments
#       of unmounts: the next mount loads the previous model (or, with none
#       yet, starts one with a warning), the tmp file is gone, and reads are
#       right.
# test_persist.sh (kill -9 after close, with reads in between) and
# test_cache.sh (one kill while filling) hold the simpler cases.
#
# file:// only: the staging and model files are looked at on disk. Prints
# "N passed, N failed".

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse
if fx_s3; then
	echo "SKIP: test_crash.sh looks at staging and model files on disk (file:// only)"
	exit 77
fi

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
DATA=$FX_TMP/data
MB=$((1024 * 1024))
mkdir -p "$BUCKET" "$DATA"
OPTS=cache_min_free=0

# crash: kill -9 the daemon of the last mount, reap it, and let go of the
# dead mount.
crash() {
	local pid=$FX_LAST_PID
	kill -KILL "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
}
# store_of CACHE_DIR: the per-bucket store (holding index.mdb or model.mdb).
store_of() {
	local f
	f=$(find "$1" -mindepth 2 -maxdepth 2 \( -name index.mdb -o -name model.mdb \) 2>/dev/null | head -n 1)
	[ -n "$f" ] && dirname "$f"
}
staging_files() { find "$1" -path '*/staging/stage-*' -type f 2>/dev/null; }
# shellcheck disable=SC2317 # called through fx_ok
# absent_empty_or_whole FILE SOURCE
absent_empty_or_whole() {
	[ ! -e "$1" ] || [ ! -s "$1" ] || cmp -s "$1" "$2"
}

# ------------------------------------------------------- (a) writes

head -c $((160 * MB)) /dev/urandom >"$DATA/big"
for i in 1 2 3; do head -c $((300000 * i)) /dev/urandom >"$DATA/small$i"; done
CACHE=$FX_TMP/cache-w
fx_mount "$BUCKET" "$MNT" "$OPTS" "$CACHE" || fx_finish
# Right after close() and fsync() return: no read, no delay in between.
cp "$DATA/small1" "$MNT/acked-close"
dd if="$DATA/small2" of="$MNT/acked-fsync" bs=64k conv=fsync status=none
cp "$DATA/small3" "$MNT/acked-last"
# Still open after fsync(): its staging file outlives the publish. Kept open
# by a process that waits for its stdin to close.
exec 7> >(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os.fsync(fd)
open(sys.argv[3], "w").close()
sys.stdin.read()
' "$MNT/held-open" "$DATA/small1" "$FX_TMP/held.synced")
for _ in $(seq 100); do [ -e "$FX_TMP/held.synced" ] && break; sleep 0.1; done
fx_ok "a file written and fsync()ed is still open at the kill" test -e "$FX_TMP/held.synced"
crash
exec 7>&-
fx_same_file "kill -9 after fsync() of a file still open: the file is in the bucket" \
	"$DATA/small1" "$BUCKET/held-open"
fx_same_file "kill -9 right after close(): the file is in the bucket" "$DATA/small1" "$BUCKET/acked-close"
fx_same_file "kill -9 right after fsync(): the file is in the bucket" "$DATA/small2" "$BUCKET/acked-fsync"
fx_same_file "kill -9 right after the last close(): the file is in the bucket" "$DATA/small3" "$BUCKET/acked-last"

fx_mount "$BUCKET" "$MNT" "$OPTS" "$CACHE" || fx_finish
fx_eq "... the next mount reports no staging leftovers (all was published)" "" \
	"$(grep -i 'staging' "$FX_LAST_LOG" | grep -i 'kept')"
fx_match "... and removes the open file's published staging file" "$(cat "$FX_LAST_LOG")" \
	'removed [0-9]+ staging file\(s\) of an earlier run whose data was published'
fx_eq "... leaving no staging file" "" "$(staging_files "$CACHE")"
cp "$DATA/big" "$MNT/inflight.bin" 2>"$FX_TMP/cp.err" &
cpid=$!
stage=""
for ((i = 0; i < 300; i++)); do
	stage=$(staging_files "$CACHE" | head -n 1)
	[ -n "$stage" ] && [ "$(stat -c %s "$stage" 2>/dev/null || echo 0)" -ge $((16 * MB)) ] && break
	sleep 0.05
done
staged=$(stat -c %s "$stage" 2>/dev/null || echo 0)
crash
wait "$cpid"
cprc=$?
fx_log "killed during cp with $staged bytes staged"
fx_ok "the daemon was killed while cp was writing (cp failed: exit $cprc)" test "$cprc" -ne 0
fx_ok "... with some but not all of the 160 MiB staged ($staged bytes)" \
	test "$staged" -gt 0 -a "$staged" -lt $((160 * MB))
fx_ok "the unacknowledged file is absent, empty or whole in the bucket (never partial)" \
	absent_empty_or_whole "$BUCKET/inflight.bin" "$DATA/big"
left=$(staging_files "$CACHE")
fx_eq "the staging file of the killed cp is kept" 1 "$(printf '%s' "$left" | grep -c .)"
if [ -n "$left" ]; then
	n=$(stat -c %s "$left")
	fx_ok "... and holds a prefix of what cp wrote ($n bytes)" cmp -s -n "$n" "$left" "$DATA/big"
fi
fx_mount "$BUCKET" "$MNT" "$OPTS" "$CACHE" || fx_finish
fx_match "the next mount reports the staging file kept (log warning)" "$(cat "$FX_LAST_LOG")" \
	'warn.*1 unpublished staging file.* kept in .*/staging'
# Which object the data was for: without it the user cannot copy it back.
if grep -q 'inflight\.bin' "$FX_LAST_LOG"; then
	fx_pass "... naming the file it was written for (inflight.bin)"
else
	fx_fail "the staging report at mount does not say which file the kept data was for" \
		"$(grep -i 'staging' "$FX_LAST_LOG" | head -1)"
fi
fx_ok "the staging file is still there after the remount" test -e "$left"
fx_ok "the acknowledged files read right through the remount" bash -c \
	"cmp '$DATA/small1' '$MNT/acked-close' && cmp '$DATA/small2' '$MNT/acked-fsync' && cmp '$DATA/small3' '$MNT/acked-last'"
fx_ok "the mount writes again" bash -c "cp '$DATA/small1' '$MNT/after' && cmp '$DATA/small1' '$BUCKET/after'"
fx_umount "$MNT"
rm -f "$BUCKET/inflight.bin" "$BUCKET/after"

# --------------------------------------------- (b) cache inserts, 3 kills

head -c $((5 * MB)) /dev/urandom >"$BUCKET/warm.bin"
for round in 1 2 3; do head -c $((64 * MB + round)) /dev/urandom >"$BUCKET/cold$round.bin"; done
CACHE=$FX_TMP/cache-r
fx_mount "$BUCKET" "$MNT" "$OPTS" "$CACHE" || fx_finish
cat "$MNT/warm.bin" >/dev/null
fx_umount "$MNT"
STORE=$(store_of "$CACHE")
# count_blocks: block files in the store.
count_blocks() { find "$STORE/blocks" -type f | wc -l; }
# readahead_max=4M: the reader's pace, not readahead, sets when blocks go in.
for round in 1 2 3; do
	fx_mount "$BUCKET" "$MNT" "$OPTS,readahead_max=4M" "$CACHE" || fx_finish
	start=$(count_blocks)
	want=$((start + 2 + RANDOM % 40)) # a random moment of the 65 inserts
	# A reader of 1 MiB every 15 ms: the inserts last about a second.
	python3 -c 'import sys, time
with open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        time.sleep(0.015)' "$MNT/cold$round.bin" >/dev/null 2>&1 &
	reader=$!
	cat "$MNT/warm.bin" >/dev/null 2>&1 # cache hits while inserts go on
	for ((i = 0; i < 1000; i++)); do
		[ "$(count_blocks)" -ge "$want" ] && break
		sleep 0.005
	done
	blocks=$(count_blocks)
	crash
	wait "$reader" 2>/dev/null
	fx_log "round $round: killed with $((blocks - start)) of 65 blocks of cold$round.bin inserted"
	fx_ok "round $round: the kill landed during the inserts" test "$((blocks - start))" -lt 65
	fx_mount "$BUCKET" "$MNT" "$OPTS" "$CACHE" || fx_finish
	fx_log "round $round: the remount says: $(grep -Eo 'cache in .* repaired.*' "$FX_LAST_LOG" | sed 's/^cache in [^ ]* //' || echo 'no repair needed')"
	fx_nomatch "round $round: the cache opens without being emptied or failing" "$(cat "$FX_LAST_LOG")" \
		'cannot open the cache|emptying it|unreadable'
	fx_ok "round $round: every file reads right (cold*.bin, warm.bin, acked-fsync)" bash -c \
		"for f in \$(seq -f cold%g.bin 1 $round) warm.bin; do cmp '$BUCKET/'\$f '$MNT/'\$f || exit 1; done; cmp '$DATA/small2' '$MNT/acked-fsync'"
	if [ "$round" -lt 3 ]; then crash; else fx_umount "$MNT"; fi
done
fx_status "rustfx cache verify after the kills exits 0" 0 "$RUSTFX_BIN" cache verify "$CACHE"
fx_match "... and finds 0 corrupt blocks" "$FX_OUT" ' 0 corrupt'

# ---------------------------------------------------- (c) model saves

LOPTS=$OPTS,prefetch=snn,cache_policy=snn,block_size=64K
mkdir -p "$BUCKET/w"
for i in $(seq -w 1 40); do head -c $((65536 * (10#$i % 3 + 1) + 10#$i)) /dev/urandom >"$BUCKET/w/f$i"; done
# workload: read the 40 files in one order, twice.
workload() {
	local i
	for _ in 1 2; do
		for i in $(seq -w 1 40); do cat "$MNT/w/f$i" >/dev/null || return 1; done
	done
}
# reads_right: every workload file through the mount equals its source.
reads_right() {
	local i
	for i in $(seq -w 1 40); do cmp -s "$BUCKET/w/f$i" "$MNT/w/f$i" || return 1; done
}
CACHE=$FX_TMP/cache-m
fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
workload
fx_umount "$MNT"
STORE=$(store_of "$CACHE")
fx_ok "a first, clean unmount saves the model" test -s "$STORE/model.mdb"

# kill_at_tmp PID [MAX-DELAY-S]: SIGTERM the daemon (an unmount, which
# saves the model) and kill -9 it the moment model.mdb.tmp appears, or a
# random moment up to MAX-DELAY-S later; prints "tmp" when the tmp file
# still existed at the kill, "renamed" when the save had ended, "none" when
# the process ended first.
kill_at_tmp() {
	timeout 30 python3 - "$1" "$STORE/model.mdb.tmp" "${2:-0}" <<'EOF'
import os, random, signal, sys, time
pid, tmp, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
os.kill(pid, signal.SIGTERM)
while True:
    if os.path.exists(tmp):
        time.sleep(random.uniform(0, delay))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            print("none")
            break
        print("tmp" if os.path.exists(tmp) else "renamed")
        break
    try:
        os.kill(pid, 0)
        if open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z":
            raise ProcessLookupError
    except ProcessLookupError:
        print("none")
        break
    time.sleep(0.0005)
EOF
}
fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
workload
cp "$STORE/model.mdb" "$FX_TMP/model.before"
got=$(kill_at_tmp "$FX_LAST_PID")
crash
fx_eq "the daemon was killed while model.mdb.tmp existed (the save at unmount)" tmp "$got"
fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
fx_match "the next mount loads the previous model" "$(cat "$FX_LAST_LOG")" 'loaded the learned model'
fx_nomatch "... without calling it unusable" "$(cat "$FX_LAST_LOG")" 'cannot be used'
fx_ok "reads are right after the kill during the save" reads_right
workload
fx_umount "$MNT"
# The half-written tmp file is removed by the next save (here: at unmount).
fx_ok "the next save removes the killed save's model.mdb.tmp" test ! -e "$STORE/model.mdb.tmp"
fx_status "rustfx brain show opens the model" 0 timeout 60 "$RUSTFX_BIN" brain show "$CACHE"

# Kills at random moments of the save at unmount (up to 5 ms into it: a
# save of this model takes a few ms).
unusable=0 loaded=0 during=0 outcomes=""
for round in 1 2 3 4 5 6; do
	fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
	fx_match "random kill $round: the mount loads the model" "$(cat "$FX_LAST_LOG")" 'loaded the learned model' &&
		loaded=$((loaded + 1))
	grep -q 'cannot be used' "$FX_LAST_LOG" && unusable=$((unusable + 1))
	reads_right || fx_fail "random kill $round: reads are right"
	workload
	got=$(kill_at_tmp "$FX_LAST_PID" 0.005)
	outcomes+=" $got"
	[ "$got" = tmp ] && during=$((during + 1))
	crash
done
fx_log "random kills: $during of 6 landed while model.mdb.tmp existed (at the kill:$outcomes)"
fx_mount "$BUCKET" "$MNT" "$LOPTS" "$CACHE" || fx_finish
fx_match "after the random kills the model loads" "$(cat "$FX_LAST_LOG")" 'loaded the learned model'
fx_eq "no mount called the model unusable" 0 "$unusable"
fx_ok "reads are right after the random kills" reads_right
fx_umount "$MNT"
fx_eq "the daemon exits 0 at the last unmount" 0 "$FX_DAEMON_RC"

fx_finish
