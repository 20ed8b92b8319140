#!/usr/bin/env bash
#
# test_faults.sh - issue F7 point 2: server faults through the fault proxy
# (tests/s3/fxproxy.py) in front of a real radosgw. One mount (small
# deadlines) meets, one after another: 5xx storms, SlowDown with Retry-After,
# connection resets mid-body, stalls, truncated bodies, short bodies with a
# consistent Content-Length, wrong Content-Length both ways, malformed and
# truncated XML listings, and faults on uploads. For each:
#   - a read returns the true bytes or fails with EIO, never wrong bytes
#     (cmp with the source, or EIO with a prefix of the source);
#   - a write that close()/fsync() acknowledged is in the bucket (GET by
#     s3req.py, straight to radosgw);
#   - nothing runs past the deadlines the mount was given (measured with
#     timeout(1); a timeout counts as a hang);
#   - the daemon never crashes (its pid lives and the mount answers).
# What test_s3_backend.sh already covers (one 503 in three, the first
# GET stalled, 500 on every GET, 500 on every part upload) is not repeated.
#
# Prints "N passed, N failed".

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own server
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup
fx_require_fuse

RGW_DIR=$FX_TMP/rgw
PROXY_PID=""

# shellcheck disable=SC2317 # run by the EXIT trap
flt_cleanup() {
	local rc=$?
	set +u
	fx_release
	[ -n "$PROXY_PID" ] && kill -TERM "$PROXY_PID" 2>/dev/null
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	(exit "$rc")
	fx_cleanup
}
trap flt_cleanup EXIT

FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/rgw.sh" start "$RGW_DIR" >"$FX_TMP/rgw.start" 2>&1 ||
	fx_abort "start radosgw (tests/s3/rgw.sh start)" "$(tail -n 30 "$FX_TMP/rgw.start")"
FX_S3_ENV=$RGW_DIR/env
fx_s3_setup

python3 "$HERE/fxproxy.py" --upstream "$S3_ENDPOINT" --listen 127.0.0.1:0 --seed 7 \
	--port-file "$FX_TMP/proxy.port" --verbose </dev/null >"$FX_TMP/proxy.out" 2>"$FX_TMP/proxy.log" &
PROXY_PID=$!
for ((i = 0; i < 100; i++)); do
	[ -s "$FX_TMP/proxy.port" ] && break
	sleep 0.1
done
PROXY_PORT=$(cat "$FX_TMP/proxy.port" 2>/dev/null)
[ -n "$PROXY_PORT" ] || fx_abort "start fxproxy.py" "$(cat "$FX_TMP/proxy.log" 2>&1)"

# proxy METHOD PATH [JSON]: the control API.
proxy() { curl -sS --max-time 10 -X "$1" ${3:+-d "$3"} "http://127.0.0.1:$PROXY_PORT/__fxproxy/$2"; }
# fired KIND: how many faults of KIND the proxy injected since the last reset.
fired() { proxy GET stats | python3 -c 'import json, sys; print(json.load(sys.stdin)["faults"][sys.argv[1]])' "$1"; }
# rules JSON: replace the rules and zero the counters.
rules() {
	proxy POST rules "$1" >/dev/null
	proxy DELETE stats >/dev/null
}

# The deadlines of the mount: one request at most 4 s, a transfer slower than
# 1 KiB/s for 2 s abandoned, 3 attempts with short backoffs. One read of a
# block can then take about 3 x (4 + 0.2) s; DEADLINE bounds any command.
OPTS="timeout=4,stall_timeout=2,connect_timeout=2,retries=3,retry_base_ms=20,retry_max_ms=200"
OPTS+=",endpoint=http://127.0.0.1:$PROXY_PORT,use_path_request_style,region=$S3_REGION"
OPTS+=",dir_ttl=0,stat_ttl=0,attr_timeout=0,entry_timeout=0,negative_timeout=0"
OPTS+=",multipart_threshold=5M,part_size=5M" # the 11 MiB file below goes in 3 parts
DEADLINE=40
# A failed read: 3 attempts of at most 4 s each (+ backoff), and the kernel
# asks once more after a failed readahead (the same block again): 2 x 12.6 s.
FAIL_BOUND=30
fx_log "fxproxy on 127.0.0.1:$PROXY_PORT -> $S3_ENDPOINT; mount -o $OPTS"

DATA=$FX_TMP/data
mkdir -p "$DATA"
B=$FX_TMP/bk
M=$FX_TMP/mnt
SCEN=(storm slowdown reset stall truncate shorten lenshort lenlong)
for s in "${SCEN[@]}"; do
	head -c $((3 * 1024 * 1024 + 4097)) /dev/urandom >"$DATA/$s"
	fx_bucket_put "$B/$s" <"$DATA/$s" || fx_abort "PUT $s straight to radosgw"
done
NAMES=""
for i in $(seq -w 0 29); do
	printf 'entry %s\n' "$i" | fx_bucket_put "$B/ls/file-with-a-longer-name-$i" ||
		fx_abort "PUT ls/file-$i straight to radosgw"
	NAMES+="file-with-a-longer-name-$i"$'\n'
done
NAMES=${NAMES%$'\n'}

FX_S3_OPTS="" # the mount's endpoint is the proxy: all in OPTS
fx_mount "$B" "$M" "$OPTS" "$FX_TMP/cache" || fx_finish
PID=$FX_LAST_PID

# timed CMD...: fx_run under timeout $DEADLINE, SECS = wall seconds.
timed() {
	local t0=$SECONDS
	fx_run timeout "$DEADLINE" "$@"
	SECS=$((SECONDS - t0))
}

# The errors a failed read may end with: EIO, or ETIMEDOUT when the
# deadlines ran out (rustfx reports those as such; both are clean errors).
IOERR='Input/output error|Connection timed out'

# read_check DESC NAME: cat the object through the mount: the true bytes or
# EIO with a prefix of them, within the deadline.
read_check() {
	local desc=$1 name=$2 out=$FX_TMP/read.$2 n
	timed bash -c "cat '$M/$name' > '$out'"
	n=$(stat -c %s "$out" 2>/dev/null || echo 0)
	if [ "$FX_RC" -eq 124 ]; then
		fx_fail "$desc: the read ends within ${DEADLINE}s" "it hung; $n bytes read"
	elif [ "$FX_RC" -eq 0 ] && cmp -s "$out" "$DATA/$name"; then
		fx_pass "$desc: the true bytes (${SECS}s)"
	elif [ "$FX_RC" -ne 0 ] && [ "$SECS" -gt "$FAIL_BOUND" ]; then
		fx_fail "$desc: a failing read ends within ${FAIL_BOUND}s" "it took ${SECS}s: $FX_ERR"
	elif [ "$FX_RC" -ne 0 ] && grep -Eq "$IOERR" <<<"$FX_ERR" &&
		cmp -s -n "$n" "$out" "$DATA/$name"; then
		fx_pass "$desc: $(grep -Eo "$IOERR" <<<"$FX_ERR" | head -1), and the $n bytes before it are true (${SECS}s)"
	else
		READ_BAD="exit $FX_RC, $n of $(stat -c %s "$DATA/$name") bytes, $(cmp "$out" "$DATA/$name" 2>&1 | head -1); $FX_ERR"
		return 1
	fi
}

# alive DESC: the daemon lives and the mount answers.
alive() {
	if kill -0 "$PID" 2>/dev/null && timeout 20 stat "$M" >/dev/null 2>&1; then
		fx_pass "$1: the daemon lives and the mount answers"
	else
		fx_fail "$1: the daemon lives and the mount answers" \
			"pid $PID $(kill -0 "$PID" 2>/dev/null && echo alive || echo gone)" \
			"$(tail -n 20 "$FX_LAST_STDERR" 2>/dev/null)"
	fi
}

# obj_rule NAME JSON-FIELDS: a rule on GETs of object NAME only.
obj_rule() { printf '{"method":"GET","path":"/%s$",%s}' "$(fx_s3_key "$B/$1")" "$2"; }

# scenario DESC NAME KIND JSON-FIELDS: one rule on the object's GETs, a read.
scenario() {
	local desc=$1 name=$2 kind=$3
	rules "[$(obj_rule "$name" "$4")]"
	read_check "$desc" "$name" || fx_fail "$desc: the true bytes or EIO" "$READ_BAD"
	fx_ok "$desc: the proxy injected $kind" test "$(fired "$kind")" -gt 0
	alive "$desc"
}

# ---------------------------------------------------------------- reads

scenario "5xx storm (60% of GETs 500)" storm status '"prob":0.6,"status":500'
scenario "SlowDown 503 with Retry-After: 1 on every 2nd GET" slowdown status \
	'"every":2,"status":503,"code":"SlowDown","retry_after":"1"'
scenario "reset mid-body on half the GETs" reset reset_mid_body '"prob":0.5,"reset_mid_body":true'
scenario "every GET stalls 60 s mid-body (stall_timeout=2)" stall stall '"stall":60'
scenario "every 2nd GET truncated (closed mid-body)" truncate truncate '"every":2,"truncate":true'
scenario "wrong Content-Length (+1000, then hang up) on every 2nd GET" lenlong length_delta \
	'"every":2,"length_delta":1000'

# A body shorter than asked for, but well-framed: Content-Length matches it,
# Content-Range does not. Taking it for the block would serve wrong bytes.
rules "[$(obj_rule shorten '"shorten":true')]"
if read_check "short body, consistent Content-Length, on every GET" shorten; then :; else
	fx_log "read of 'shorten': $READ_BAD"
	fx_fail "a 206 body shorter than its Content-Range is accepted as the block" "$READ_BAD"
fi
fx_ok "short body: the proxy injected it" test "$(fired shorten)" -gt 0
alive "short body"

# Content-Length 1000 short; the surplus bytes follow on the connection.
rules "[$(obj_rule lenshort '"every":2,"length_delta":-1000')]"
if read_check "wrong Content-Length (-1000) on every 2nd GET" lenshort; then :; else
	fx_log "read of 'lenshort': $READ_BAD"
	fx_fail "a response shorter than the range asked (Content-Length 1000 short) is accepted" "$READ_BAD"
fi
fx_ok "wrong Content-Length (-1000): the proxy injected it" test "$(fired length_delta)" -gt 0
alive "wrong Content-Length (-1000)"

# ------------------------------------------------------------ listings

proxy DELETE rules >/dev/null
timed ls "$M/ls"
fx_eq "ls without faults lists the 30 names" "$NAMES" "$FX_OUT"

# listing_check DESC KIND JSON-FIELDS: ls of the 30 names under a listing
# fault: all of them, or an error; never a partial or a wrong listing.
listing_check() {
	local desc=$1 kind=$2
	rules "[{\"method\":\"GET\",\"query\":\"list-type\",$3}]"
	timed ls "$M/ls"
	if [ "$FX_RC" -eq 124 ]; then
		fx_fail "$desc: ls ends within ${DEADLINE}s" "it hung"
	elif [ "$FX_RC" -eq 0 ] && [ "$FX_OUT" == "$NAMES" ]; then
		fx_pass "$desc: ls shows exactly the 30 names (${SECS}s)"
	elif [ "$FX_RC" -ne 0 ] && grep -Eq "$IOERR|Protocol error|Bad message" <<<"$FX_ERR" &&
		[ -z "$(comm -23 <(printf '%s\n' "$FX_OUT" | grep .) <(printf '%s\n' "$NAMES"))" ]; then
		fx_pass "$desc: ls fails with an I/O error (${SECS}s)"
	else
		LIST_BAD="exit $FX_RC; $(printf '%s\n' "$FX_OUT" | grep -c .) names shown; $(head -c 300 <<<"$FX_ERR")"
		return 1
	fi
}
if ! listing_check "malformed XML listing (every listing)" malform '"malform":true'; then
	fx_fail "a malformed XML listing is shown as a wrong directory" "$LIST_BAD"
fi
fx_ok "malformed listing: the proxy injected it" test "$(fired malform)" -gt 0
# lookup_check DESC: looking up an absent name costs a LIST; under a listing
# fault that must be an error, not "No such file" (absence it cannot know).
lookup_check() {
	timed stat "$M/ls/absent-$RANDOM"
	if [ "$FX_RC" -ne 0 ] && grep -Eq "$IOERR|Protocol error|Bad message" <<<"$FX_ERR"; then
		fx_pass "$1: looking up an absent name fails with an I/O error (${SECS}s)"
	elif [ "$FX_RC" -ne 0 ] && grep -q 'No such file' <<<"$FX_ERR"; then
		fx_fail "$1: an absent name is reported absent (ENOENT) from a listing that did not parse" "$FX_ERR"
	else
		fx_fail "$1: looking up an absent name fails with an I/O error" "$(fx_ctx)"
	fi
}
lookup_check "malformed XML listing"
alive "malformed listing"
if ! listing_check "truncated XML listing, consistent Content-Length (every listing)" shorten '"shorten":true'; then
	fx_fail "a truncated XML listing is shown as a partial directory" "$LIST_BAD"
fi
fx_ok "truncated listing: the proxy injected it" test "$(fired shorten)" -gt 0
lookup_check "truncated XML listing"
alive "truncated listing"
listing_check "listing cut mid-body (closed) on every 2nd listing" truncate '"every":2,"truncate":true' ||
	fx_fail "listing cut mid-body: all names or an error" "$LIST_BAD"
listing_check "listing reset mid-body on every 2nd listing" reset_mid_body '"every":2,"reset_mid_body":true' ||
	fx_fail "listing reset mid-body: all names or an error" "$LIST_BAD"
listing_check "5xx storm on listings (70% answered 503)" status '"prob":0.7,"status":503' ||
	fx_fail "5xx storm on listings: all names or an error" "$LIST_BAD"
listing_check "every listing stalls 60 s" stall '"stall":60' ||
	fx_fail "stalled listings: all names or an error" "$LIST_BAD"
alive "listing faults"

# --------------------------------------------------------------- writes

proxy DELETE rules >/dev/null
head -c $((11 * 1024 * 1024 + 333)) /dev/urandom >"$DATA/big"
# write_check DESC RULES: under RULES, 4 small files (cp, dd conv=fsync) and
# one multipart file; each one acknowledged must be in the bucket.
WSEQ=0
ACKED=() # NAME:SOURCE of every acknowledged write
write_check() {
	local desc=$1 f src acked=0 lost=""
	WSEQ=$((WSEQ + 1))
	rules "$2"
	for f in a b c d big; do
		src=$DATA/small-$f
		[ "$f" = big ] && src=$DATA/big
		[ -e "$src" ] || head -c $((100000 + RANDOM)) /dev/urandom >"$src"
		if [ "$f" = c ] || [ "$f" = d ]; then
			timed dd if="$src" of="$M/w$WSEQ-$f" bs=64k conv=fsync status=none
		else
			timed cp "$src" "$M/w$WSEQ-$f"
		fi
		if [ "$FX_RC" -eq 124 ]; then
			fx_fail "$desc: writing w$WSEQ-$f ends within ${DEADLINE}s" "it hung"
			continue
		fi
		[ "$FX_RC" -eq 0 ] || continue
		acked=$((acked + 1))
		ACKED+=("w$WSEQ-$f:$src")
		cmp -s "$src" "$(fx_bucket_file "$B/w$WSEQ-$f")" || lost+=" w$WSEQ-$f"
	done
	fx_log "$desc: $acked of 5 writes acknowledged"
	fx_eq "$desc: every acknowledged write is in the bucket, byte-identical" "" "$lost"
	alive "$desc"
}
write_check "5xx storm on uploads (50% of PUT/POST 503)" \
	'[{"method":"PUT|POST","prob":0.5,"status":503}]'
write_check "reset mid-answer on half the PUTs" '[{"method":"PUT","prob":0.5,"reset_mid_body":true}]'
write_check "PUT answers stall 60 s on every 3rd PUT" '[{"method":"PUT","every":3,"stall":60}]'
write_check "every PUT answered 500 (nothing can be acknowledged)" '[{"method":"PUT|POST","status":500}]'
# The XML answers of multipart uploads (Initiate: the UploadId; Complete).
write_check "malformed XML answers to every multipart POST" '[{"method":"POST","malform":true}]'
write_check "truncated XML answers to every 2nd multipart POST" '[{"method":"POST","every":2,"shorten":true}]'

proxy DELETE rules >/dev/null
bad=""
for a in "${ACKED[@]}"; do
	timed cmp "${a#*:}" "$M/${a%%:*}"
	[ "$FX_RC" -eq 0 ] || bad+=" ${a%%:*} ($FX_RC: $FX_ERR)"
done
fx_eq "after the faults, the ${#ACKED[@]} acknowledged files read back through the mount" "" "$bad"
alive "the end"
fx_umount "$M"
fx_eq "the mount process exits 0 at unmount" 0 "$FX_DAEMON_RC"
fx_nomatch "the log has no crash or assertion" "$(cat "$FX_LAST_LOG" "$FX_LAST_STDERR")" \
	'Assertion|AddressSanitizer|Segmentation|core dumped|runtime error'

fx_finish
