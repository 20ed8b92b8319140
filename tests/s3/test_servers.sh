#!/usr/bin/env bash
# test_servers.sh - checks the S3 test servers of this folder themselves:
# each one starts into a scratch directory, writes a complete env file, keeps
# an object byte for byte, lists by prefix, and leaves no process behind when
# stopped; radosgw also rejects a bad signature.
#
#   bash tests/s3/test_servers.sh [s3rver] [rgw]     (default: both)
#
# Owns: nothing but its scratch directories under /tmp, removed on exit.
# Prints "ok"/"FAIL" lines and the closing line "N passed, N failed"; exits
# non-zero on any failure. No `set -e`: a failed check is counted and the
# script goes on.

set -u
FX_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX_REQ="$FX_HERE/s3req.py"
# shellcheck source=../report.sh
. "$FX_HERE/../report.sh"
FX_SCRATCH=$(mktemp -d /tmp/rustfx-s3-test.XXXXXX)
FX_RUNNING=() # "script dir" of each server to stop on exit


fx_check() {
	local what=$1
	shift
	if "$@"; then fx_pass "$what"; else fx_fail "$what"; fi
}

fx_cleanup() {
	local entry
	for entry in "${FX_RUNNING[@]}"; do
		[ -n "$entry" ] || continue
		# shellcheck disable=SC2086 # "script stop dir", split on purpose
		bash $entry 2>/dev/null </dev/null
	done
	rm -rf "$FX_SCRATCH"
}
trap fx_cleanup EXIT
trap 'exit 130' INT TERM

# Live (not zombie) processes whose command line names DIR.
fx_procs_in() {
	# DIR goes through the environment: on awk's command line, awk would
	# find itself.
	ps -eo pid=,stat=,args= | FX_DIR=$1 awk 'index($0, ENVIRON["FX_DIR"]) && $2 !~ /^Z/'
}

# True while PID runs. An exited daemon stays a zombie until init reaps it,
# which some inits do lazily: that is not a leftover.
fx_running() {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# fx_s3 METHOD PATH [s3req.py options...]: a signed request to the bucket.
fx_s3() {
	local method=$1 path=$2
	shift 2
	python3 "$FX_REQ" -t 30 "$method" "$S3_ENDPOINT/$S3_BUCKET$path" "$@"
}

fx_test_server() {
	local kind=$1 script="$FX_HERE/$1.sh" dir="$FX_SCRATCH/$1" t0 t1 out
	echo "# $kind"
	t0=$(date +%s.%N)
	if ! out=$(bash "$script" start "$dir" 2>&1); then
		fx_fail "$kind: start" "$out"
		bash "$script" stop "$dir" 2>/dev/null
		return
	fi
	FX_RUNNING+=("$script stop $dir")
	t1=$(date +%s.%N)
	fx_pass "$kind: start ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'))"

	# The env file: every variable, the endpoint on the loopback.
	local var missing=""
	unset S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY S3_KIND S3_PID
	# shellcheck disable=SC1091
	set -a && . "$dir/env" && set +a
	for var in S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY S3_KIND S3_PID; do
		[ -n "${!var:-}" ] || missing="$missing $var"
	done
	if [ -z "$missing" ] && [ "$S3_KIND" = "$kind" ] &&
		[[ $S3_ENDPOINT == http://127.0.0.1:* ]] && fx_running "$S3_PID"; then
		fx_pass "$kind: env file complete ($S3_ENDPOINT)"
	else
		fx_fail "$kind: env file complete" "missing:${missing:- none}" "$(cat "$dir/env")"
	fi
	local same_env
	same_env=$(bash "$script" env "$dir" 2>&1)
	fx_check "$kind: env command prints the env file" [ "$same_env" = "$(cat "$dir/env")" ]

	# Round trip: binary content (every byte value, > 1 MiB) and a key
	# that needs percent-encoding.
	local obj="$FX_SCRATCH/$kind.obj" got="$FX_SCRATCH/$kind.got"
	head -c 1500000 /dev/urandom >"$obj"
	local key="/round%20trip/obj%2B1.bin"
	if out=$(fx_s3 PUT "$key" -d "$obj" -o /dev/null 2>&1) &&
		out=$(fx_s3 GET "$key" -o "$got" 2>&1) && cmp -s "$obj" "$got"; then
		fx_pass "$kind: PUT then GET returns the same bytes"
	else
		fx_fail "$kind: PUT then GET returns the same bytes" "$out"
	fi

	# LIST by prefix, with and without a delimiter.
	printf 'x' >"$FX_SCRATCH/$kind.small"
	fx_s3 PUT "/round%20trip/sub/x" -d "$FX_SCRATCH/$kind.small" -o /dev/null
	fx_s3 PUT "/elsewhere" -d "$FX_SCRATCH/$kind.small" -o /dev/null
	local list
	list=$(fx_s3 GET "?list-type=2&prefix=round%20trip/" 2>&1)
	if grep -q '<Key>round trip/obj+1.bin</Key>' <<<"$list" &&
		grep -q '<Key>round trip/sub/x</Key>' <<<"$list" &&
		! grep -q '<Key>elsewhere</Key>' <<<"$list"; then
		fx_pass "$kind: LIST with a prefix lists exactly the keys under it"
	else
		fx_fail "$kind: LIST with a prefix lists exactly the keys under it" "$list"
	fi
	list=$(fx_s3 GET "?list-type=2&prefix=round%20trip/&delimiter=/" 2>&1)
	if grep -q '<Key>round trip/obj+1.bin</Key>' <<<"$list" &&
		grep -q '<Prefix>round trip/sub/</Prefix>' <<<"$list" &&
		! grep -q '<Key>round trip/sub/x</Key>' <<<"$list"; then
		fx_pass "$kind: LIST with a delimiter folds a subdirectory into a common prefix"
	else
		fx_fail "$kind: LIST with a delimiter folds a subdirectory into a common prefix" "$list"
	fi

	# Pagination: s3rver needs --openssl-legacy-provider for this.
	local page token
	page=$(fx_s3 GET "?list-type=2&max-keys=1" 2>&1)
	token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' <<<"$page")
	token=$(python3 -c 'import html, sys, urllib.parse
print(urllib.parse.quote(html.unescape(sys.argv[1]), safe=""))' "$token")
	if [ -n "$token" ] &&
		out=$(fx_s3 GET "?list-type=2&max-keys=1&continuation-token=$token" 2>&1) &&
		grep -q '<Key>' <<<"$out"; then
		fx_pass "$kind: LIST continues from a continuation token"
	else
		fx_fail "$kind: LIST continues from a continuation token" "$page" "${out:-}"
	fi

	if [ "$kind" = rgw ]; then
		if out=$(fx_s3 GET "$key" -s "wrong$S3_SECRET_KEY" -o /dev/null 2>&1); then
			fx_fail "$kind: a request signed with a wrong secret is refused" "it succeeded"
		elif grep -q 'http 403 SignatureDoesNotMatch' <<<"$out"; then
			fx_pass "$kind: a request signed with a wrong secret is refused (403 SignatureDoesNotMatch)"
		else
			fx_fail "$kind: a request signed with a wrong secret is refused" "$out"
		fi
	fi

	# A second start into the same directory is refused, not a second server.
	bash "$script" start "$dir" >/dev/null 2>&1
	fx_check "$kind: a second start in the same directory is refused (75)" [ $? -eq 75 ]

	# Stop: nothing of it left running, and stop again is harmless.
	t0=$(date +%s.%N)
	bash "$script" stop "$dir"
	local rc=$?
	t1=$(date +%s.%N)
	FX_RUNNING=("${FX_RUNNING[@]/"$script stop $dir"/}")
	local left
	left=$(fx_procs_in "$dir")
	if [ $rc -eq 0 ] && [ -z "$left" ] && ! fx_running "$S3_PID"; then
		fx_pass "$kind: stop leaves no process ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }'))"
	else
		fx_fail "$kind: stop leaves no process" "stop exited $rc" "$left"
	fi
	bash "$script" stop "$dir"
	fx_check "$kind: a second stop succeeds" [ $? -eq 0 ]
}

kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(s3rver rgw)
for kind in "${kinds[@]}"; do
	case $kind in
	s3rver | rgw) fx_test_server "$kind" ;;
	*) fx_fail "unknown server $kind (expected s3rver or rgw)" ;;
	esac
done
fx_report
