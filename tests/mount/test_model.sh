#!/usr/bin/env bash
#
# test_model.sh - the model-based random tester (rustfx-model-test, from
# tests/model/fxmodel.c) on a real mount: at least 100,000 random file
# operations (open with several handles at once, reads and writes at random
# offsets, holes, appends, truncates growing and shrinking, fsync, renames of
# files and directories, unlink, mkdir, rmdir, readdir, stat, close) run on
# the mount and on a plain reference directory, compared after every step,
# with remounts in between (tests/model/remount.sh) and a cache so small that
# blocks are evicted all the time (cache_size=1M of 64K blocks, memory_limit=1M).
#
# Before it, the tester checks itself (a planted difference must be found),
# and two regressions it found run: a file just created must show in its
# directory's listing (the listing cached for dir_ttl used to be served again
# after a create), and fstat of an open directory must work after rmdir.
#
# Backend: file:// (here, kernel caches off so that every lookup reaches
# rustfx, rustfx's own caches on), or S3 when FX_S3_ENV names a server's env
# file: tests/s3/test_model_s3.sh runs this script that way against s3rver.
#
# Settings (environment): FX_MODEL_SEED (default: a new one, printed),
# FX_MODEL_OPS (100000), FX_MODEL_REMOUNTS (remounts during the run, 4; one
# more at the end), FX_MODEL_TIMEOUT (seconds, 600), FX_MODEL_OPTS (more
# mount options, appended: to try a cache_policy, say). A mismatch prints the
# seed, the op index and the last ops; the whole op log is kept in
# /tmp/rustfx-model-fail.SEED.ops (replay: rustfx-model-test --replay FILE,
# shrink: --shrink OUT).

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse

MODEL_BIN=${FX_TEST_MODEL:-$FX_REPO_ROOT/build/tests/model/rustfx-model-test}
REMOUNT=$FX_REPO_ROOT/tests/model/remount.sh
[ -x "$MODEL_BIN" ] ||
	fx_abort "rustfx-model-test binary found" "looked at $MODEL_BIN (set FX_TEST_MODEL)"

OPS=${FX_MODEL_OPS:-100000}
REMOUNTS=${FX_MODEL_REMOUNTS:-4}
TIMEOUT=${FX_MODEL_TIMEOUT:-600}
SEED=${FX_MODEL_SEED:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
REF=$FX_TMP/ref
STATE=$FX_TMP/state
mkdir -p "$BUCKET" "$MNT" "$REF" "$STATE"

# A cache far smaller than the data (files reach 3 MiB, the tree holds
# several): every pass over the files evicts.
OPTS="cache_dir=$FX_TMP/cache,cache_size=1M,block_size=64K,memory_limit=1M,readahead_max=256K"
OPTS+=",cache_min_free=0,log_level=info,logfile=$FX_TMP/mount.log"
if fx_s3; then
	OPTS+=",$FX_S3_OPTS"
	KIND="s3 ($FX_S3_KIND)"
else
	# Every lookup and getattr reaches rustfx, whose own caches stay on.
	OPTS+=",attr_timeout=0,entry_timeout=0,negative_timeout=0,stat_ttl=10,dir_ttl=10"
	OPTS+=",negative_ttl=10"
	KIND="file://"
fi
# By hand, other options may be tried (later ones win), e.g. cache_policy=lru.
[ -n "${FX_MODEL_OPTS:-}" ] && OPTS+=",$FX_MODEL_OPTS"
URL=$(fx_url "$BUCKET")
# The remount command the tester runs; the mount's pid lives in $STATE/pid,
# and its command line names $FX_TMP, so lib.sh's cleanup stops it.
printf -v REMOUNT_CMD '%q ' "$REMOUNT" "$STATE" "$RUSTFX_BIN" "$URL" "$MNT" "$OPTS"
FX_MOUNTS+=("$MNT")

if ! eval "$REMOUNT_CMD" >"$FX_TMP/mount.out" 2>&1; then
	fx_abort "mount $URL at $MNT" "$(cat "$FX_TMP/mount.out")" \
		"--- log:" "$(tail -n 40 "$FX_TMP/mount.log" 2>/dev/null)"
fi
fx_pass "mounted $URL ($KIND) with cache_size=1M, block_size=64K, memory_limit=1M${FX_MODEL_OPTS:+ and $FX_MODEL_OPTS}"

# ---------------------------------------------------- the tester itself

# It must see a difference when there is one: two plain directories, and a
# "remount" that changes one of them behind the tester's back (a byte of a
# file, then a whole file) must end in a mismatch, exit 1, naming it.
self_a=$FX_TMP/self-a self_b=$FX_TMP/self-b
self_log=$FX_TMP/self.ops
printf '%s\n' "0: open 0 a rdwr,creat" "1: write 0 0 5000 0123456789abcdef" "2: close 0" \
	"3: mkdir d" "4: remount" >"$self_log"
self_check() { # DESC REMOUNT-CMD EXPECTED-REGEX
	rm -rf "$self_a" "$self_b"
	mkdir -p "$self_a" "$self_b"
	fx_run "$MODEL_BIN" --mount "$self_a" --ref "$self_b" --replay "$self_log" --remount-cmd "$2"
	if [ "$FX_RC" -eq 1 ] && printf '%s\n' "$FX_OUT" | grep -Eq -- "$3"; then
		fx_pass "$1"
	else
		fx_fail "$1" "expected exit 1 and a line matching: $3" "$(fx_ctx)"
	fi
}
self_check "the tester finds a changed byte" \
	"printf Z | dd of=$self_a/a bs=1 seek=4000 conv=notrunc status=none" \
	"^content of a differs first at offset 4000"
self_check "the tester finds a missing file" "rm $self_a/a" "^readdir \.: 'a' .* missing on the mount"
self_check "the tester finds a failed remount" "false" "^remount: 'false' failed"
fx_run "$MODEL_BIN" --mount "$self_a" --ref "$self_b" --replay "$self_log" --remount-cmd true --clean
fx_eq "the same log on two plain directories passes" 0 "$FX_RC"

# ---------------------------------------------------- regression: listings

# A create between two listings of the same directory: the second listing
# must show the new file. Bash builtins only (glob, redirection), so the
# loop is quick; before the fix about 1 in 15 creates was missing.
race_dir=$MNT/listing-race
mkdir "$race_dir"
missing=0
for ((i = 0; i < 400; i++)); do
	names=("$race_dir"/*)
	: >"$race_dir/new"
	names=("$race_dir"/*)
	[[ " ${names[*]} " == *" $race_dir/new "* ]] || missing=$((missing + 1))
	rm -f "$race_dir/new"
done
rmdir "$race_dir"
fx_eq "a file just created is in the next listing of its directory (400 tries)" \
	"0 missing" "$missing missing"

# ---------------------------------------------------- regression: removed directories

# An open directory keeps its attributes after rmdir, as an unlinked open
# file does: fstat on its descriptor succeeds (POSIX). rustfx used to look
# the removed directory up again and answer ENOENT, once stat_ttl had passed;
# a mount with no caches (the kernel's and rustfx's at 0) shows it at once.
# Both cases are tiny logs replayed by the tester on a mount of their own.
B2=$FX_TMP/bucket2 M2=$FX_TMP/mnt2 R2=$FX_TMP/ref2
mkdir -p "$B2" "$R2"
if fx_mount "$B2" "$M2" "attr_timeout=0,entry_timeout=0,negative_timeout=0,stat_ttl=0,negative_ttl=0,dir_ttl=0" \
	"$FX_TMP/cache2"; then
	printf '%s\n' "open 0 f rdwr,creat" "write 0 0 10 1" "unlink f" "fstat 0" "close 0" >"$FX_TMP/rm-file.ops"
	fx_run "$MODEL_BIN" --mount "$M2" --ref "$R2" --replay "$FX_TMP/rm-file.ops"
	fx_eq "fstat of an open file after unlink succeeds" 0 "$FX_RC"
	[ "$FX_RC" -eq 0 ] || fx_log "$FX_OUT"
	printf '%s\n' "mkdir d" "open 0 d rdonly" "rmdir d" "fstat 0" "close 0" >"$FX_TMP/rm-dir.ops"
	fx_run "$MODEL_BIN" --mount "$M2" --ref "$R2" --replay "$FX_TMP/rm-dir.ops" --clean
	fx_eq "fstat of an open directory after rmdir succeeds" 0 "$FX_RC"
	[ "$FX_RC" -eq 0 ] || fx_log "$(printf '%s\n' "$FX_OUT" | grep -E '^(fxmodel: MISMATCH|fstat)')"
	fx_umount "$M2"
fi

# ---------------------------------------------------- the model run

every=$((OPS / (REMOUNTS + 1) + 1)) # the last remount is the one after the run
[ "$every" -gt 0 ] || every=1
fx_log "rustfx-model-test: seed $SEED, $OPS ops, a remount every $every ops, $KIND"
out=$FX_TMP/model.out
failog=$FX_TMP/model.ops
start=$SECONDS
timeout -k 10 "$TIMEOUT" "$MODEL_BIN" --mount "$MNT" --ref "$REF" --seed "$SEED" --ops "$OPS" \
	--remount-cmd "$REMOUNT_CMD" --remount-every "$every" --content-every 1024 \
	--fail-log "$failog" >"$out" 2>&1
rc=$?
secs=$((SECONDS - start))
cat "$out"
if [ "$rc" -eq 0 ]; then
	fx_pass "$OPS random ops on the mount and the reference agree (seed $SEED, ${secs}s)"
else
	why="exit $rc"
	[ "$rc" -eq 124 ] && why="timed out after ${TIMEOUT}s"
	keep=""
	if [ -s "$failog" ]; then
		keep=/tmp/rustfx-model-fail.$SEED.ops
		cp "$failog" "$keep"
	fi
	fx_fail "$OPS random ops on the mount and the reference agree (seed $SEED)" "$why" \
		"rerun: FX_MODEL_SEED=$SEED FX_MODEL_OPS=$OPS FX_MODEL_REMOUNTS=$REMOUNTS bash $0" \
		"${keep:+op log kept in $keep (rustfx-model-test --replay $keep --shrink OUT)}" \
		"mount log warnings: $(grep -cE ' (warn|error|WARN|ERROR)' "$FX_TMP/mount.log")" \
		"$(grep -E ' (warn|error|WARN|ERROR)' "$FX_TMP/mount.log" | tail -n 20)"
fi
# The checks below describe a finished run; a failed one said enough.
[ "$rc" -eq 0 ] || fx_finish
fx_match "the run reports its rate" "$(cat "$out")" "^fxmodel: [0-9]+ ops in [0-9.]+ s"

# Remounts happened, and the cache evicted (remount.sh keeps each mount's
# stats, read just before it unmounts).
remounts=$(sed -n 's/.* \([0-9][0-9]*\) remounts,.*/\1/p' "$out")
fx_eq "the run remounted $((REMOUNTS + 1)) times" "$((REMOUNTS + 1))" "${remounts:-none}"
evictions=$(cat "$STATE"/stats.*.json 2>/dev/null | python3 -c 'import json, sys
dec, text, n, i = json.JSONDecoder(), sys.stdin.read(), 0, 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    obj, i = dec.raw_decode(text, i)
    n += obj.get("cache", {}).get("evictions", 0)
print(n)')
if [ "${evictions:-0}" -gt 0 ]; then
	fx_pass "the cache evicted blocks during the run ($evictions evictions)"
else
	fx_fail "the cache evicted blocks during the run" "evictions: ${evictions:-unknown}" \
		"stats files: $(ls "$STATE" 2>&1)"
fi
fx_finish
