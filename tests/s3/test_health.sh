#!/usr/bin/env bash
#
# test_health.sh - `rustfx health` and the C API's example program against
# real S3 servers: s3rver (quick, checks no signatures) and Ceph radosgw
# (checks them). For each: a healthy bucket exits 0 with every backend
# check ok (clock skew measured from the server's Date); --json is valid
# JSON saying the same; a missing bucket exits 1 with a bucket failure; a
# closed port exits 1 at once as unreachable; a bad bucket name or option
# exits 2. radosgw only: a wrong secret exits 1 with a credentials failure
# and the secret appears nowhere. s3rver only: a rustfx mount of the bucket
# is healthy as a mount point (daemon answers, stats read), and
# rustfx-client-example puts, lists, reads back and deletes through
# backends/client.h.
#
# Starts its own servers (tests/s3/s3rver.sh, tests/s3/rgw.sh) under the
# scratch directory and stops them on exit; everything listens on 127.0.0.1
# and every command is bounded by timeout(1).
# Prints "N passed, N failed" and exits non-zero on any failure.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own servers
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup

S3RVER_DIR=$FX_TMP/s3rver
RGW_DIR=$FX_TMP/rgw
EXAMPLE_BIN=${FX_TEST_CLIENT_EXAMPLE:-$(dirname "$RUSTFX_BIN")/../backends/rustfx-client-example}

# shellcheck disable=SC2317 # run by the EXIT trap
th_cleanup() {
	local rc=$?
	set +u
	fx_release # unmounts, deletes the run's objects while the servers answer
	"$HERE/s3rver.sh" stop "$S3RVER_DIR" >/dev/null 2>&1
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	(exit "$rc")
	fx_cleanup
}
trap th_cleanup EXIT

for server in s3rver rgw; do
	dir=$FX_TMP/$server
	FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/$server.sh" start "$dir" \
		>"$FX_TMP/$server.start" 2>&1 ||
		fx_abort "start $server (tests/s3/$server.sh start)" "$(tail -n 30 "$FX_TMP/$server.start")"
done

# th_env DIR: the server's settings into TH_* variables.
th_env() {
	TH_ENDPOINT=$(sed -n 's/^S3_ENDPOINT=//p' "$1/env")
	TH_REGION=$(sed -n 's/^S3_REGION=//p' "$1/env")
	TH_BUCKET=$(sed -n 's/^S3_BUCKET=//p' "$1/env")
	TH_ACCESS=$(sed -n 's/^S3_ACCESS_KEY=//p' "$1/env")
	TH_SECRET=$(sed -n 's/^S3_SECRET_KEY=//p' "$1/env")
	TH_OPTS="endpoint=$TH_ENDPOINT,use_path_request_style,region=$TH_REGION,cache_dir=$FX_TMP/cache"
}

# th_health [VAR=VALUE...] -- ARGS...: rustfx health with the server's keys
# in the environment (overridable), bounded; FX_OUT/FX_ERR/FX_RC as fx_run.
# TH_SECS: how long it took.
th_health() {
	local envs=() t0
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	t0=$(date +%s.%N)
	fx_run env AWS_ACCESS_KEY_ID="$TH_ACCESS" AWS_SECRET_ACCESS_KEY="$TH_SECRET" "${envs[@]}" \
		timeout 60 "$RUSTFX_BIN" health "$@"
	TH_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# th_line DESC STATE CHECK-ERE: the last output has a line "STATE  CHECK...".
th_line() { fx_match "$1" "$FX_OUT" "^$2 +$3"; }

# th_json_get EXPR: evaluate a Python expression on the JSON in $FX_OUT as j.
th_json_get() {
	printf '%s\n' "$FX_OUT" | python3 -c 'import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

for server in s3rver rgw; do
	th_env "$FX_TMP/$server"
	fx_log "--- $server at $TH_ENDPOINT"

	# ---------------------------------------------------------- healthy
	th_health -- -o "$TH_OPTS" "s3://$TH_BUCKET"
	fx_eq "$server: healthy bucket exits 0" 0 "$FX_RC"
	[ "$FX_RC" = 0 ] || fx_log "$(fx_ctx)"
	th_line "$server: reachable ok" ok reachable
	th_line "$server: credentials ok, naming their source" ok 'credentials +accepted \(from env AWS_ACCESS_KEY_ID\)'
	th_line "$server: bucket ok" ok bucket
	th_line "$server: latency ok with p50 and p99" ok 'latency +p50 [0-9.]+ (us|ms), p99 [0-9.]+ (us|ms) over 5 requests'
	th_line "$server: clock ok, skew measured from Date" ok 'clock +skew [-+][0-9.]+ s'
	th_line "$server: cache_dir ok" ok cache_dir
	fx_match "$server: status healthy" "$FX_OUT" '^status: healthy$'

	th_health -- -o "$TH_OPTS" --json --samples 3 "s3://$TH_BUCKET"
	fx_eq "$server: --json exits 0" 0 "$FX_RC"
	fx_ok "$server: --json parses with python3 -m json.tool" \
		python3 -m json.tool <<<"$FX_OUT"
	fx_eq "$server: --json status" healthy "$(th_json_get 'j["status"]')"
	fx_eq "$server: --json names every backend check" \
		"reachable credentials bucket latency clock" \
		"$(th_json_get '" ".join(c["name"] for c in j["checks"][:5])')"
	fx_eq "$server: --json latency over --samples 3" "3 True" \
		"$(th_json_get 'str(j["backend"]["samples"]) + " " + str(j["backend"]["latency_p99_ms"] >= j["backend"]["latency_p50_ms"] > 0)')"
	fx_eq "$server: --json clock skew is a number of seconds" True \
		"$(th_json_get 'isinstance(j["backend"]["clock_skew_s"], float) and abs(j["backend"]["clock_skew_s"]) < 30')"

	# ---------------------------------------------------- missing bucket
	th_health -- -o "$TH_OPTS" "s3://no-such-bucket-$RANDOM"
	fx_eq "$server: missing bucket exits 1" 1 "$FX_RC"
	th_line "$server: missing bucket: reachable ok" ok reachable
	th_line "$server: missing bucket: bucket fails" fail 'bucket +bucket .no-such-bucket-[0-9]+. does not exist'
	fx_match "$server: missing bucket: with a hint" "$FX_OUT" '^ +hint: check the bucket name'
	fx_match "$server: missing bucket: degraded" "$FX_OUT" '^status: degraded$'

	# ------------------------------------------------------ wrong secret
	if [ "$server" = rgw ]; then
		wrong=wrongSecretThatMustNeverBeShown0000000000
		th_health AWS_SECRET_ACCESS_KEY=$wrong -- -o "$TH_OPTS" "s3://$TH_BUCKET"
		fx_eq "$server: wrong secret exits 1" 1 "$FX_RC"
		th_line "$server: wrong secret: credentials fail" fail credentials
		fx_match "$server: wrong secret: credentials hint" "$FX_OUT" '^ +hint: check the credentials'
		th_line "$server: wrong secret: the endpoint still answers" ok reachable
		fx_nomatch "$server: the secret is in no output" "$FX_OUT$FX_ERR" "$wrong"
		# The secret given with -o instead: hidden from argv as well.
		th_health AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= -- \
			-o "$TH_OPTS,access_key_id=$TH_ACCESS,secret_access_key=$wrong" --json "s3://$TH_BUCKET"
		fx_eq "$server: wrong secret via -o exits 1" 1 "$FX_RC"
		fx_eq "$server: wrong secret via -o: credentials fail (--json)" fail \
			"$(th_json_get '[c["state"] for c in j["checks"] if c["name"] == "credentials"][0]')"
		fx_nomatch "$server: the -o secret is in no output" "$FX_OUT$FX_ERR" "$wrong"
	else
		fx_skip "$server: wrong secret exits 1" "s3rver defect: signatures are not checked"
	fi

	# ------------------------------------------------- unreachable, bad input
	# A port that was free a moment ago: nothing listens there.
	port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	th_health -- -o "endpoint=http://127.0.0.1:$port,use_path_request_style,cache_dir=$FX_TMP/cache" \
		"s3://$TH_BUCKET"
	fx_eq "$server: closed port exits 1" 1 "$FX_RC"
	th_line "$server: closed port: reachable fails" fail 'reachable +cannot reach S3 endpoint'
	fx_match "$server: closed port: unreachable" "$FX_OUT" '^status: unreachable$'
	fx_ok "$server: closed port answered within 10 s (took ${TH_SECS}s)" \
		awk -v s="$TH_SECS" 'BEGIN { exit !(s < 10) }'

	th_health -- -o "$TH_OPTS" "s3://Not_A_Bucket"
	fx_eq "$server: bad bucket name exits 2" 2 "$FX_RC"
	fx_match "$server: bad bucket name: error line" "$FX_ERR" '^error: invalid bucket name'
	fx_match "$server: bad bucket name: hint line" "$FX_ERR" '^hint: '
	th_health -- --frobnicate "s3://$TH_BUCKET"
	fx_eq "$server: unknown option exits 2" 2 "$FX_RC"
	th_health -- -o "endpoint=ftp://x" "s3://$TH_BUCKET"
	fx_eq "$server: bad endpoint exits 2" 2 "$FX_RC"
done

# ------------------------------------------------------- the C API's example
th_env "$S3RVER_DIR"
if [ ! -x "$EXAMPLE_BIN" ]; then
	fx_fail "rustfx-client-example is built" "not found at $EXAMPLE_BIN (set FX_TEST_CLIENT_EXAMPLE)"
else
	fx_run env AWS_ACCESS_KEY_ID="$TH_ACCESS" AWS_SECRET_ACCESS_KEY="$TH_SECRET" \
		RUSTFX_S3_ENDPOINT="$TH_ENDPOINT" RUSTFX_S3_PATH_STYLE=true RUSTFX_S3_REGION="$TH_REGION" \
		timeout 60 "$EXAMPLE_BIN" "s3://$TH_BUCKET"
	fx_eq "client example against s3rver exits 0" 0 "$FX_RC"
	[ "$FX_RC" = 0 ] || fx_log "$(fx_ctx)"
	fx_match "client example prints health" "$FX_OUT" '^health of s3://.*: healthy$'
	fx_match "client example measured the clock" "$FX_OUT" '^  clock +ok +skew'
	for step in 'put from memory' 'put from a file' 'get back \(memory\)' 'get back \(file\)' \
		'list rustfx-client-example/' 'delete \(memory\)' 'gone after delete'; do
		fx_match "client example: $step" "$FX_OUT" "^ok +$step"
	done
	fx_match "client example listed both objects" "$FX_OUT" '^ +rustfx-client-example/[0-9]+-[0-9]+-fd\.txt [0-9]+ bytes'
	fx_eq "client example left no object behind" "" \
		"$(FX_S3_PREFIX=x S3_ENDPOINT=$TH_ENDPOINT S3_BUCKET=$TH_BUCKET S3_ACCESS_KEY=$TH_ACCESS \
			S3_SECRET_KEY=$TH_SECRET S3_REGION=$TH_REGION fx_s3_list rustfx-client-example/)"
	fx_run env RUSTFX_S3_ENDPOINT=ftp://x timeout 30 "$EXAMPLE_BIN" "s3://$TH_BUCKET"
	fx_eq "client example with a bad endpoint exits 2" 2 "$FX_RC"
fi

# ------------------------------------------------------------ a mount point
if [ ! -e /dev/fuse ]; then
	fx_skip "health of an s3rver mount point" "/dev/fuse is absent"
else
	FX_S3_ENV=$S3RVER_DIR/env
	fx_s3_setup # lib.sh's S3 mode: fx_mount mounts s3://BUCKET/<run prefix>/...
	mkdir -p "$FX_TMP/bucket"
	MNT=$FX_TMP/mnt
	if fx_mount "$FX_TMP/bucket" "$MNT"; then
		echo "through the mount" >"$MNT/a.txt"
		cat "$MNT/a.txt" >/dev/null
		th_health -- -o "$FX_S3_OPTS,cache_dir=$FX_TMP/cache" "$MNT"
		fx_eq "s3rver mount point: healthy, exit 0" 0 "$FX_RC"
		[ "$FX_RC" = 0 ] || fx_log "$(fx_ctx)"
		fx_match "mount point: names the bucket URL" "$FX_OUT" \
			"^health of $MNT \\(mounted from s3://$S3_BUCKET/$FX_S3_PREFIX/bucket\\)$"
		th_line "mount point: bucket ok" ok bucket
		th_line "mount point: cache index of the mount's store reads" ok 'cache_index +readable'
		th_line "mount point: the daemon answers" ok 'daemon +answers in'
		th_line "mount point: stats read" ok 'stats +[0-9]+ hits, [0-9]+ misses'
		th_health -- -o "$FX_S3_OPTS,cache_dir=$FX_TMP/cache" --json "$MNT"
		fx_ok "mount point: --json parses with python3 -m json.tool" python3 -m json.tool <<<"$FX_OUT"
		fx_eq "mount point: --json daemon answers, mountpoint named" "True $MNT" \
			"$(th_json_get 'str(j["mount"]["answers"]) + " " + j["mountpoint"]')"
		fx_umount "$MNT"
	fi
fi

fx_finish
