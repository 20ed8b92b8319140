#!/usr/bin/env bash
#
# test_health_local.sh - `rustfx health` on file:// buckets and real mounts:
# a bucket URL (healthy, --json, a missing directory, [health] url from
# rustfx.toml and RUSTFX_HEALTH_URL), bad input (exit 2: no target, unknown
# option, a relative file:// URL, a directory that is not a mount point, a
# mount of another type, --samples out of range), and a mounted rustfx: its
# daemon answers and its counters are read; named through a symlink too; a
# stopped daemon (SIGSTOP) is reported after --timeout instead of hanging
# health; after the unmount the learned model is found and loads, and a
# damaged model or index is reported (exit 1); a killed daemon (a stale
# mount) is reported at once.
#
# Only the mount checks need /dev/fuse; without it they print skip lines
# and the others still run.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
CACHE=$FX_TMP/cache
mkdir -p "$BUCKET" "$MNT" "$CACHE" "$FX_TMP/plain"
for i in 1 2 3 4 5 6; do head -c $((i * 70000)) /dev/urandom >"$BUCKET/f$i.bin"; done

# rh ARGS...: rustfx health, bounded; TH_SECS: how long it took.
rh() {
	local t0
	t0=$(date +%s.%N)
	fx_run timeout 60 "$RUSTFX_BIN" "$@"
	TH_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# line DESC STATE CHECK-ERE: the last output has a line "STATE  CHECK...".
line() { fx_match "$1" "$FX_OUT" "^$2 +$3"; }

# within DESC SECONDS: the last rh took less than SECONDS.
within() { fx_ok "$1 (took ${TH_SECS}s)" awk -v s="$TH_SECS" -v m="$2" 'BEGIN { exit !(s < m) }'; }

# json EXPR: a Python expression on the JSON in $FX_OUT as j.
json() {
	printf '%s\n' "$FX_OUT" | python3 -c 'import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

diag() {
	if printf '%s\n' "$FX_ERR" | grep -q '^error: ' && printf '%s\n' "$FX_ERR" | grep -q '^hint: '; then
		fx_pass "$1: error: and hint: lines"
	else
		fx_fail "$1: error: and hint: lines" "$(fx_ctx)"
	fi
}

# ---------------------------------------------------------------- a URL

rh health -o "cache_dir=$CACHE" "file://$BUCKET"
fx_eq "file:// bucket: healthy, exit 0" 0 "$FX_RC"
fx_match "file:// bucket: names it" "$FX_OUT" "^health of file://$BUCKET\$"
line "file:// bucket: reachable ok (local)" ok 'reachable +local \(file backend\)'
line "file:// bucket: credentials not needed" skip credentials
line "file:// bucket: bucket ok" ok bucket
line "file:// bucket: latency ok" ok 'latency +p50 .* over 5 requests'
line "file:// bucket: no clock to compare" skip clock
line "file:// bucket: cache_dir ok" ok 'cache_dir +[0-9.]+ [KMGT]?i?B free'
line "file:// bucket: no store yet" skip 'cache_index +no store for this URL yet'
fx_match "file:// bucket: status healthy" "$FX_OUT" '^status: healthy$'

rh --json health -o "cache_dir=$CACHE" --samples 9 "file://$BUCKET"
fx_eq "--json (global flag): exit 0" 0 "$FX_RC"
fx_ok "--json parses with python3 -m json.tool" python3 -m json.tool <<<"$FX_OUT"
fx_eq "--json: status, url, no mount point" "healthy file://$BUCKET None" \
	"$(json 'j["status"] + " " + j["url"] + " " + str(j["mountpoint"])')"
fx_eq "--json: --samples 9 timed" 9 "$(json 'j["backend"]["samples"]')"
fx_eq "--json: every check has a state among ok/warn/fail/skip" True \
	"$(json 'all(c["state"] in ("ok", "warn", "fail", "skip") for c in j["checks"])')"
fx_eq "--json: the cache's free bytes" True "$(json 'j["cache"]["free_bytes"] > 0')"

rh health -o "cache_dir=$CACHE" "file://$FX_TMP/no-such-dir"
fx_eq "missing directory: exit 1" 1 "$FX_RC"
line "missing directory: bucket fails" fail "bucket +backend root $FX_TMP/no-such-dir does not exist"
fx_match "missing directory: hint to create it" "$FX_OUT" "hint: create it: mkdir -p $FX_TMP/no-such-dir"
fx_match "missing directory: degraded" "$FX_OUT" '^status: degraded$'

printf '[health]\nurl = "file://%s"\nsamples = 2\n[cache]\ndir = "%s"\n' "$BUCKET" "$CACHE" \
	>"$FX_TMP/health.toml"
rh -c "$FX_TMP/health.toml" health --json
fx_eq "[health] url in rustfx.toml: checked without an argument" "0 file://$BUCKET 2" \
	"$FX_RC $(json 'j["url"] + " " + str(j["backend"]["samples"])' 2>&1)"
fx_run env RUSTFX_HEALTH_URL="file://$FX_TMP/no-such-dir" timeout 60 "$RUSTFX_BIN" health
fx_eq "RUSTFX_HEALTH_URL: checked without an argument (missing: exit 1)" 1 "$FX_RC"

# ------------------------------------------------------------ bad input

rh health
fx_eq "no target and no [health] url: exit 2" 2 "$FX_RC"
diag "no target"
rh health --frobnicate "file://$BUCKET"
fx_eq "unknown option: exit 2" 2 "$FX_RC"
diag "unknown option"
rh health "file://relative/dir"
fx_eq "relative file:// URL: exit 2" 2 "$FX_RC"
diag "relative file:// URL"
rh health "file://$BUCKET" "file://$BUCKET"
fx_eq "two targets: exit 2" 2 "$FX_RC"
rh health --samples 0 "file://$BUCKET"
fx_eq "--samples 0: exit 2" 2 "$FX_RC"
rh health "$FX_TMP/plain"
fx_eq "a directory that is no mount point: exit 2" 2 "$FX_RC"
fx_match "... says so" "$FX_ERR" "^error: $FX_TMP/plain is not a mount point"
rh health /proc
fx_eq "a mount of another type: exit 2" 2 "$FX_RC"
fx_match "... names its type" "$FX_ERR" '^error: /proc is a proc mount, not a rustfx one'
rh health --help
fx_eq "health --help: exit 0" 0 "$FX_RC"
fx_match "health --help: usage" "$FX_OUT" '^usage: rustfx health'

# ------------------------------------------------------------ mounted

if [ ! -e /dev/fuse ]; then
	fx_skip "health of a mount point, a stopped and a killed daemon" "/dev/fuse is absent"
	fx_finish
fi

fx_mount "$BUCKET" "$MNT" "prefetch=snn,cache_policy=snn,block_size=64K" "$CACHE" || fx_finish
PID=$FX_LAST_PID
for i in 1 2 3 4 5 6 1 2 3; do cat "$MNT/f$i.bin" >/dev/null; done
cat "$MNT/f1.bin" >/dev/null # hits

rh health -o "cache_dir=$CACHE" "$MNT"
fx_eq "mount point: healthy, exit 0" 0 "$FX_RC"
[ "$FX_RC" = 0 ] || fx_log "$(fx_ctx)"
fx_match "mount point: names the mount and its URL" "$FX_OUT" \
	"^health of $MNT \\(mounted from file://$BUCKET\\)\$"
line "mount point: the bucket behind it is ok" ok bucket
line "mount point: its store's index reads" ok 'cache_index +readable: [0-9]+ blocks indexed'
line "mount point: the daemon answers" ok 'daemon +answers in [0-9.]+ ms'
line "mount point: its counters" ok 'stats +[0-9]+ hits, [1-9][0-9]* misses, .* cached, .* fetched'

rh --json health -o "cache_dir=$CACHE" "$MNT/"
fx_ok "mount point (trailing /): --json parses" python3 -m json.tool <<<"$FX_OUT"
fx_eq "mount point: --json mount figures" "True True True" \
	"$(json 'str(j["mount"]["answers"]) + " " + str(j["mount"]["misses"] >= 6) + " " + str(isinstance(j["mount"]["hits"], int))')"

ln -s "$MNT" "$FX_TMP/link-to-mnt"
rh health -o "cache_dir=$CACHE" "$FX_TMP/link-to-mnt"
fx_eq "mount point through a symlink: exit 0" 0 "$FX_RC"
fx_match "mount point through a symlink: the mount is found" "$FX_OUT" "^health of $MNT "

rh health -o "cache_dir=$FX_TMP/other-cache" "$MNT"
fx_eq "mount point, another cache_dir: still healthy" 0 "$FX_RC"
line "mount point, another cache_dir: no store there, said so" skip 'cache_index +no store'

# A stopped daemon: the stats read waits, health does not.
kill -STOP "$PID"
rh health -o "cache_dir=$CACHE" --timeout 2 "$MNT"
kill -CONT "$PID"
fx_eq "stopped daemon: exit 1" 1 "$FX_RC"
line "stopped daemon: daemon fails" fail 'daemon +no answer from the daemon within 2.0 s'
fx_match "stopped daemon: unreachable" "$FX_OUT" '^status: unreachable$'
within "stopped daemon: health returns after its --timeout" 8
fx_ok "the daemon serves again after SIGCONT" cmp "$BUCKET/f2.bin" "$MNT/f2.bin"

fx_umount "$MNT"
fx_eq "unmount exits 0" 0 "$FX_DAEMON_RC"

# --------------------------------------------------- the store, unmounted

STORE=$(dirname "$(find "$CACHE" -mindepth 2 -maxdepth 2 -name index.mdb | head -n 1)")
rh health -o "cache_dir=$CACHE" "file://$BUCKET"
fx_eq "after unmount: healthy" 0 "$FX_RC"
line "after unmount: the learned model loads" ok 'model +model.mdb loads: [0-9]+ neurons'
line "after unmount: the index reads" ok 'cache_index +readable'

cp "$STORE/model.mdb" "$FX_TMP/model.good"
head -c 4096 /dev/urandom | dd of="$STORE/model.mdb" bs=4096 seek=1 conv=notrunc 2>/dev/null
rh health -o "cache_dir=$CACHE" "file://$BUCKET"
fx_eq "damaged model: exit 1" 1 "$FX_RC"
line "damaged model: model warns" warn "model +$STORE/model.mdb does not load"
fx_match "damaged model: degraded" "$FX_OUT" '^status: degraded$'
cp "$FX_TMP/model.good" "$STORE/model.mdb"

cp "$STORE/index.mdb" "$FX_TMP/index.good"
head -c 65536 /dev/urandom >"$STORE/index.mdb"
rh health -o "cache_dir=$CACHE" "file://$BUCKET"
fx_eq "damaged index: exit 1" 1 "$FX_RC"
line "damaged index: cache_index fails" fail 'cache_index +cannot open the index'
fx_match "damaged index: hint names cache verify" "$FX_OUT" "hint: unmount, then 'rustfx cache verify $STORE'"
cp "$FX_TMP/index.good" "$STORE/index.mdb"
rh health -o "cache_dir=$CACHE" "file://$BUCKET"
fx_eq "index and model restored: healthy again" 0 "$FX_RC"

# ------------------------------------------------ a killed daemon (stale)

fx_mount "$BUCKET" "$MNT" "" "$CACHE" || fx_finish
cat "$MNT/f1.bin" >/dev/null
{
	kill -KILL "$FX_LAST_PID"
	wait "$FX_LAST_PID"
} 2>/dev/null
rh health -o "cache_dir=$CACHE" "$MNT"
fx_eq "killed daemon: exit 1" 1 "$FX_RC"
line "killed daemon: a stale mount" fail 'daemon +the daemon is gone: a stale mount'
fx_match "killed daemon: hint to unmount" "$FX_OUT" "hint: unmount it \\(fusermount3 -u $MNT"
fx_match "killed daemon: unreachable" "$FX_OUT" '^status: unreachable$'
within "killed daemon: health returns at once" 5
rh --json health -o "cache_dir=$CACHE" "$MNT"
fx_ok "killed daemon: --json parses" python3 -m json.tool <<<"$FX_OUT"
fx_eq "killed daemon: --json says the daemon does not answer" "False unreachable" \
	"$(json 'str(j["mount"]["answers"]) + " " + j["status"]')"
fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null

fx_finish
