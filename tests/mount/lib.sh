# shellcheck shell=bash
# Variables set here for the tests to read (FX_DAEMON_RC, ...):
# shellcheck disable=SC2034
#
# lib.sh - helpers shared by the real-mount tests (sourced, never run).
#
# Owns: finding the rustfx binaries, the one skip rule (no /dev/fuse), scratch
# directories under /tmp, mounting and unmounting a bucket with a trap that
# always cleans up, assertions that count passes and failures, and the
# backend switch: file:// by default, S3 when FX_S3_ENV names the env file
# that tests/s3/rgw.sh or s3rver.sh wrote. Then every "bucket directory" a
# test names ($FX_TMP/bucket) is the object prefix <run>/bucket/ of
# $S3_BUCKET, and the fx_bucket_* helpers below inspect it with
# tests/s3/s3req.py instead of looking at the disk.
# Does not own: what a test checks; each test_*.sh says that itself.
#
# A test script sources this file, calls fx_setup (and fx_require_fuse when it
# needs a mount), runs its checks, and ends with fx_finish, which prints the
# plain closing line "N passed, N failed" and exits non-zero on any failure.
# No `set -e`: a failed check is counted and the script goes on.

set -u

FX_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX_REPO_ROOT=$(cd "$FX_LIB_DIR/../.." && pwd)

# ctest sets FX_TEST_*; by hand the build tree of this checkout is used.
# (Not RUSTFX_*: those are settings to rustfx, and an unknown one is an error.)
RUSTFX_BIN=${FX_TEST_RUSTFX:-$FX_REPO_ROOT/build/tools/rustfx}
MOUNT_RUSTFX_BIN=${FX_TEST_MOUNT_RUSTFX:-$FX_REPO_ROOT/build/tools/mount.rustfx}
export -n RUSTFX_BIN MOUNT_RUSTFX_BIN
# Settings from the caller's environment would make results depend on who
# runs the test; each test sets what it means to set.
for _fx_var in $(compgen -e); do
	case $_fx_var in RUSTFX_* | RUST_LOG) unset "$_fx_var" ;; esac
done
unset _fx_var

FX_SIGDFL=()
# shellcheck disable=SC2054 # the comma is part of one argument
if env --default-signal=INT true 2>/dev/null; then FX_SIGDFL=(env --default-signal=INT,QUIT); fi

FX_TMP=""        # scratch root of this test run
FX_MOUNTS=()     # mount points to unmount on exit
FX_DAEMONS=()    # pids of foreground (-f) mounts started in the background
FX_MOUNT_SEQ=0   # numbers the log file of each mount
FX_LAST_PID=""   # pid of the last fx_mount
FX_LAST_LOG=""   # log file of the last fx_mount
FX_LAST_STDERR="" # stderr of the last fx_mount process
FX_SKIPPED=0     # checks skipped with a printed reason (S3 mode only)
FX_S3_PREFIX=""  # S3 mode: object prefix of this run, without a trailing '/'
FX_S3_OPTS=""    # S3 mode: the -o options that point a mount at the server

# ------------------------------------------------------------------ output

# shellcheck source=../report.sh
. "$FX_LIB_DIR/../report.sh"

# fx_skip DESCRIPTION REASON: a check that cannot run here, said out loud.
fx_skip() {
	FX_SKIPPED=$((FX_SKIPPED + 1))
	printf 'skip: %s (%s)\n' "$1" "$2"
}

# Print the closing line and leave; the EXIT trap cleans up.
fx_finish() {
	if [ "$FX_SKIPPED" -gt 0 ]; then fx_log "$FX_SKIPPED checks skipped (see the skip: lines)"; fi
	fx_report || exit 1
	exit 0
}

# A failure that makes the rest of the script meaningless (e.g. no mount).
fx_abort() {
	fx_fail "$@"
	fx_finish
}

# ------------------------------------------------------------ running things

# fx_run CMD...: run a command, keeping stdout, stderr and status in
# FX_OUT, FX_ERR and FX_RC for the assertions that follow.
fx_run() {
	local o e
	o=$(mktemp "$FX_TMP/out.XXXXXX")
	e=$(mktemp "$FX_TMP/err.XXXXXX")
	"$@" >"$o" 2>"$e"
	FX_RC=$?
	FX_OUT=$(cat "$o")
	FX_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return 0
}

# Context lines describing the last fx_run, for failure messages; long
# output is cut to its first 20 lines.
fx_ctx() {
	printf 'exit: %s\n' "$FX_RC"
	[ -n "$FX_OUT" ] && printf 'stdout: %s\n' "$FX_OUT" | fx_head
	[ -n "$FX_ERR" ] && printf 'stderr: %s\n' "$FX_ERR" | fx_head
	return 0
}
fx_head() { awk 'NR <= 20 { print } END { if (NR > 20) print "... (" NR - 20 " more lines)" }'; }

# -------------------------------------------------------------- assertions

# fx_ok DESC CMD...: the command succeeds.
fx_ok() {
	local desc=$1
	shift
	fx_run "$@"
	if [ "$FX_RC" -eq 0 ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $*" "$(fx_ctx)"
	fi
}

# fx_not DESC CMD...: the command fails (any non-zero status).
fx_not() {
	local desc=$1
	shift
	fx_run "$@"
	if [ "$FX_RC" -ne 0 ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $* (expected failure)" "$(fx_ctx)"
	fi
}

# fx_eq DESC EXPECTED GOT
fx_eq() {
	if [ "$2" == "$3" ]; then
		fx_pass "$1"
	else
		fx_fail "$1" "expected: $2" "got:      $3"
	fi
}

# fx_match DESC TEXT EXTENDED-REGEX: some line of TEXT matches.
fx_match() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fx_pass "$1"
	else
		fx_fail "$1" "expected a line matching: $3" "in: $2"
	fi
}

# fx_nomatch DESC TEXT EXTENDED-REGEX: no line of TEXT matches.
fx_nomatch() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fx_fail "$1" "expected no line matching: $3" "in: $2"
	else
		fx_pass "$1"
	fi
}

# fx_status DESC EXPECTED-RC CMD...: the command exits with exactly that code.
fx_status() {
	local desc=$1 want=$2
	shift 2
	fx_run "$@"
	if [ "$FX_RC" -eq "$want" ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "command: $* (expected exit $want)" "$(fx_ctx)"
	fi
}

# fx_same_file DESC A B: byte-identical files (cmp names the first difference).
fx_same_file() {
	local why
	if why=$(cmp -- "$2" "$3" 2>&1); then
		fx_pass "$1"
	else
		fx_fail "$1" "$why" "sizes: $(stat -c %s -- "$2" 2>&1) vs $(stat -c %s -- "$3" 2>&1)"
	fi
}

# fx_same_text DESC EXPECTED GOT: like fx_eq, with a diff for long text.
fx_same_text() {
	if [ "$2" == "$3" ]; then
		fx_pass "$1"
	else
		fx_fail "$1" "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") |
			sed 's/^</expected/; s/^>/got     /')"
	fi
}

# -------------------------------------------------------------- environment

# Scratch root for the whole run; everything a test makes lives under it.
fx_setup() {
	FX_TMP=$(mktemp -d /tmp/rustfx-test.XXXXXX) || {
		echo "error: cannot create a scratch directory under /tmp" >&2
		exit 1
	}
	trap fx_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# A rustfx.toml in the caller's working directory or home would change
	# the configuration under test.
	export HOME="$FX_TMP/home" XDG_CONFIG_HOME="$FX_TMP/home/.config"
	mkdir -p "$HOME"
	cd "$FX_TMP" || exit 1
	if [ ! -x "$RUSTFX_BIN" ]; then
		# Not a skip: a missing binary is a broken build.
		fx_abort "rustfx binary not found" "looked at $RUSTFX_BIN (set FX_TEST_RUSTFX)"
	fi
	if [ -n "${FX_S3_ENV:-}" ]; then fx_s3_setup; fi
}

# The only reason to skip: the kernel interface is not there at all.
fx_require_fuse() {
	if [ ! -e /dev/fuse ]; then
		echo "SKIP: /dev/fuse is absent"
		exit 77
	fi
}

fx_is_mounted() { mountpoint -q -- "$1"; }

# Wait up to $2 seconds (default 10) for $1 to be or stop being a mount point
# ($3 = "up" or "down").
fx_wait_mount() {
	local mnt=$1 secs=${2:-10} want=${3:-up} i
	for ((i = 0; i < secs * 10; i++)); do
		if fx_is_mounted "$mnt"; then
			[ "$want" = up ] && return 0
		else
			[ "$want" = down ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

# fx_mount BUCKET MNT [EXTRA_OPTS [CACHE_DIR]]: mount file://BUCKET (in S3
# mode: the prefix BUCKET stands for) at MNT in the foreground (-f) as a
# background job, so the test owns the pid, and wait until the kernel shows
# the mount. On failure: print the log, count a failure, return 1.
fx_mount() {
	local bucket=$1 mnt=$2 extra=${3:-} cache=${4:-$FX_TMP/cache} opts url
	FX_MOUNT_SEQ=$((FX_MOUNT_SEQ + 1))
	FX_LAST_LOG="$FX_TMP/log.$FX_MOUNT_SEQ"
	FX_LAST_STDERR="$FX_TMP/stderr.$FX_MOUNT_SEQ"
	opts="cache_dir=$cache,log_level=debug,logfile=$FX_LAST_LOG${FX_S3_OPTS:+,$FX_S3_OPTS}${extra:+,$extra}"
	url=$(fx_url "$bucket")
	mkdir -p "$mnt"
	# A non-interactive shell starts background jobs with SIGINT ignored,
	# and a daemon keeps an ignored signal ignored: give it back its default
	# so tests can check that SIGINT unmounts.
	"${FX_SIGDFL[@]}" "$RUSTFX_BIN" mount -f -o "$opts" "$url" "$mnt" \
		</dev/null >"$FX_LAST_STDERR" 2>&1 &
	FX_LAST_PID=$!
	FX_DAEMONS+=("$FX_LAST_PID")
	FX_MOUNTS+=("$mnt")
	local i
	for ((i = 0; i < 100; i++)); do
		fx_is_mounted "$mnt" && return 0
		# A process that died will never mount; don't wait out the clock.
		kill -0 "$FX_LAST_PID" 2>/dev/null || break
		sleep 0.1
	done
	fx_is_mounted "$mnt" && return 0
	# Secret option values stay out of the test's output, like rustfx's.
	opts=$(printf '%s' "$opts" | sed 's/\(secret_access_key\|session_token\)=[^,]*/\1=(hidden)/g')
	fx_fail "mount $url at $mnt (-o $opts)" \
		"not a mount point after 10 s; process $(kill -0 "$FX_LAST_PID" 2>/dev/null &&
			echo 'still running' || echo 'exited')" \
		"--- output of rustfx mount:" "$(tail -n 40 "$FX_LAST_STDERR" 2>/dev/null)" \
		"--- log $FX_LAST_LOG:" "$(tail -n 60 "$FX_LAST_LOG" 2>/dev/null)"
	return 1
}

# fx_stat MNT|FILE PATH: one value of MNT/.rustfx/stats (or of a saved stats
# document FILE), e.g. "cache.hits"; strings bare, the rest as JSON (true).
fx_stat() {
	local f=$1
	[ -d "$f" ] && f=$f/.rustfx/stats
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(v if isinstance(v, str) else json.dumps(v))' "$f" "$2" 2>&1
}

# fx_umount MNT [PID]: "rustfx umount", falling back to fusermount3 -u; then
# wait for the foreground process (PID, default the last mount) to exit and
# leave its exit status in FX_DAEMON_RC (or "timeout"). Returns 0 when the
# mount point is no longer mounted.
fx_umount() {
	local mnt=$1 pid=${2:-$FX_LAST_PID} i
	FX_UMOUNT_OUT=$("$RUSTFX_BIN" umount "$mnt" 2>&1)
	FX_UMOUNT_RC=$?
	if fx_is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null
	fi
	FX_DAEMON_RC=none
	if [ -n "$pid" ]; then
		FX_DAEMON_RC=timeout
		for ((i = 0; i < 100; i++)); do
			if ! kill -0 "$pid" 2>/dev/null; then
				wait "$pid" 2>/dev/null
				FX_DAEMON_RC=$?
				break
			fi
			sleep 0.1
		done
	fi
	! fx_is_mounted "$mnt"
}

# ------------------------------------------------------------------ S3 mode
# FX_S3_ENV=DIR/env (written by tests/s3/rgw.sh or s3rver.sh) switches every
# mount of this run to s3://$S3_BUCKET/<run prefix>/<bucket dir name>. The
# fx_bucket_* helpers take the path a test uses for the backing directory
# and do the same thing on disk (file://) or through tests/s3/s3req.py (S3),
# so a check reads the same for both backends.

FX_S3_REQ_PY=$FX_REPO_ROOT/tests/s3/s3req.py
FX_S3_KIND=""     # "rgw", "s3rver", ... in S3 mode; empty for file://
FX_S3_GETS=0      # numbers the files fx_bucket_file downloads

# Defects of a server that checks must not be blamed on rustfx, by name
# (tests/s3/README.md measured them). FX_S3_DEFECTS overrides the list.
declare -A FX_S3_DEFECT_WHY=(
	[long_segment]="s3rver defect: a key segment over 233 bytes fails with 500"
	[deep_prefix]="s3rver defect: a delimiter listing omits a common prefix that holds only deeper keys"
	[suffix_range]="s3rver defect: suffix ranges answer the first bytes"
	[multipart_etag]="s3rver defect: a multipart ETag is the plain MD5"
	[no_sigcheck]="s3rver defect: signatures are not checked"
)

fx_s3() { [ -n "$FX_S3_KIND" ]; }

fx_s3_setup() {
	[ -r "$FX_S3_ENV" ] ||
		fx_abort "FX_S3_ENV names an S3 env file" "cannot read '$FX_S3_ENV'" \
			"start a server first: tests/s3/rgw.sh start DIR, then FX_S3_ENV=DIR/env"
	set -a
	# shellcheck disable=SC1090 # written by tests/s3/{rgw,s3rver}.sh
	. "$FX_S3_ENV"
	set +a
	local v
	for v in S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY S3_KIND; do
		[ -n "${!v:-}" ] || fx_abort "FX_S3_ENV sets $v" "$FX_S3_ENV has no $v="
	done
	FX_S3_KIND=$S3_KIND
	: "${S3_REGION:=us-east-1}"
	export S3_REGION AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
	unset AWS_SESSION_TOKEN AWS_PROFILE
	# One prefix per run: runs (and the two suites) never see each other's
	# objects. Short ("r" + mktemp's 6 characters): S3 caps the whole key at
	# 1,024 bytes, and the path-length checks of the tests count from the
	# mount root, so the prefix must leave them room.
	FX_S3_PREFIX="r${FX_TMP##*.}"
	FX_S3_OPTS="endpoint=$S3_ENDPOINT,use_path_request_style,region=$S3_REGION"
	if [ -z "${FX_S3_DEFECTS+set}" ]; then
		case $S3_KIND in
		s3rver) FX_S3_DEFECTS="long_segment deep_prefix suffix_range multipart_etag no_sigcheck" ;;
		*) FX_S3_DEFECTS="" ;;
		esac
	fi
	fx_log "backend: S3 ($S3_KIND) at $S3_ENDPOINT, s3://$S3_BUCKET/$FX_S3_PREFIX/"
}

# fx_defect NAME DESCRIPTION: true (after printing a skip: line) when the
# server under test has defect NAME, so the check DESCRIPTION is skipped:
#   fx_defect long_segment "a 255-byte name" || fx_both "a 255-byte name" ...
fx_defect() {
	fx_s3 || return 1
	case " ${FX_S3_DEFECTS:-} " in
	*" $1 "*) fx_skip "$2" "${FX_S3_DEFECT_WHY[$1]:-$FX_S3_KIND defect: $1}" ;;
	*) return 1 ;;
	esac
}

# fx_url BUCKET: the URL a mount of BUCKET uses.
fx_url() {
	if fx_s3; then
		printf 's3://%s/%s\n' "$S3_BUCKET" "$(fx_s3_key "$1")"
	else
		printf 'file://%s\n' "$1"
	fi
}

# fx_s3_key PATH: the object key that stands for PATH (a path under $FX_TMP).
fx_s3_key() {
	local p=${1#"$FX_TMP"/}
	printf '%s/%s\n' "$FX_S3_PREFIX" "${p%/}"
}

# fx_s3_url KEY [QUERY]: KEY percent-encoded as on the wire.
fx_s3_url() {
	python3 -c 'import sys, urllib.parse as u
print(sys.argv[1] + "/" + u.quote(sys.argv[2], safe="/-_.~") + (("?" + sys.argv[3]) if sys.argv[3] else ""))' \
		"$S3_ENDPOINT/$S3_BUCKET" "$1" "${2:-}"
}

# fx_s3req METHOD KEY [s3req.py options...]: one signed request, bounded.
fx_s3req() {
	local method=$1 key=$2
	shift 2
	timeout 60 python3 "$FX_S3_REQ_PY" -t 30 "$method" "$(fx_s3_url "$key")" "$@"
}

# fx_s3_list PREFIX: every key under PREFIX (all pages), one a line:
# KEY<TAB>SIZE<TAB>ETAG<TAB>LAST-MODIFIED. Fails when a page fails.
fx_s3_list() { fx_s3_bulk list "$1"; }

# fx_s3_rm_prefix PREFIX: delete every key under PREFIX.
fx_s3_rm_prefix() { fx_s3_bulk rm "$1"; }

# fx_s3_bulk list|rm PREFIX: many requests in one process (signed by
# s3req.py's own code) over one keep-alive connection, bounded as a whole.
fx_s3_bulk() {
	timeout 120 python3 - "$FX_S3_REQ_PY" "$S3_ENDPOINT" "$S3_BUCKET" "$1" "$2" <<'EOF'
import http.client, importlib.util, os, sys, urllib.parse as u, xml.etree.ElementTree as ET
req, endpoint, bucket, op, prefix = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("s3req", req)
s3req = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s3req)
conn = http.client.HTTPConnection(u.urlsplit(endpoint).netloc, timeout=30)
env = os.environ

def call(method, url):
    headers = {}
    target = s3req.sign(method, url, headers, b"", env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"],
                        env.get("S3_REGION", "us-east-1"))
    conn.request(method, target, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if not 200 <= resp.status < 300:
        sys.exit(f"http {resp.status} {method} {url}: {body[:300]!r}")
    return body

ns = "{*}" # any namespace: s3rver answers in another one than S3
keys, token = [], None
while True:
    q = "list-type=2&prefix=" + u.quote(prefix, safe="")
    if token:
        q += "&continuation-token=" + u.quote(token, safe="")
    root = ET.fromstring(call("GET", f"{endpoint}/{bucket}?{q}"))
    for c in root.findall(ns + "Contents"):
        row = [c.findtext(ns + k) or "" for k in ("Key", "Size", "ETag", "LastModified")]
        keys.append(row[0])
        if op == "list":
            print("\t".join(row))
    token = root.findtext(ns + "NextContinuationToken")
    if root.findtext(ns + "IsTruncated") != "true" or not token:
        break
if op == "rm":
    for key in keys:
        call("DELETE", f"{endpoint}/{bucket}/" + u.quote(key, safe="/-_.~"))
EOF
}

# fx_bucket_cat PATH: the bytes of the object (file: the backing file).
fx_bucket_cat() {
	if fx_s3; then fx_s3req GET "$(fx_s3_key "$1")"; else cat "$1"; fi
}

# fx_bucket_file PATH: print a local file holding the object's bytes (file:
# PATH itself). When the GET fails the file does not exist, and the error
# is on stderr.
fx_bucket_file() {
	if ! fx_s3; then
		printf '%s\n' "$1"
		return 0
	fi
	FX_S3_GETS=$((FX_S3_GETS + 1))
	local out=$FX_TMP/s3get.$FX_S3_GETS
	fx_s3req GET "$(fx_s3_key "$1")" -o "$out.part" && mv "$out.part" "$out"
	rm -f "$out.part"
	printf '%s\n' "$out"
}

# fx_bucket_exists PATH: like test -e: an object PATH, or any key below PATH/.
fx_bucket_exists() {
	if ! fx_s3; then
		test -e "$1"
		return
	fi
	local key listing
	key=$(fx_s3_key "$1")
	listing=$(fx_s3_list "$key") || return 2
	printf '%s\n' "$listing" | cut -f1 | grep -Fxq -e "$key" && return 0
	printf '%s\n' "$listing" | cut -f1 | grep -Fq -e "$key/"
}

# fx_bucket_absent PATH: like test ! -e (an error listing is not absence).
fx_bucket_absent() {
	fx_bucket_exists "$1"
	[ $? -eq 1 ]
}

# fx_bucket_is_file PATH: like test -f: an object PATH (not a marker PATH/).
fx_bucket_is_file() {
	if fx_s3; then fx_s3req HEAD "$(fx_s3_key "$1")" >/dev/null; else test -f "$1"; fi
}

# fx_bucket_put PATH [NAME=VALUE...] <DATA: store stdin as PATH with rustfx
# metadata NAME=VALUE (file: xattrs user.rustfx.NAME; S3: x-amz-meta-NAME),
# as another tool writing to the bucket would.
fx_bucket_put() {
	local path=$1 kv hdrs=()
	shift
	if fx_s3; then
		for kv in "$@"; do hdrs+=(-H "x-amz-meta-${kv%%=*}: ${kv#*=}"); done
		fx_s3req PUT "$(fx_s3_key "$path")" -d /dev/stdin "${hdrs[@]}" >/dev/null
		return
	fi
	cat >"$path" || return
	for kv in "$@"; do setfattr -n "user.rustfx.${kv%%=*}" -v "${kv#*=}" "$path" || return; done
}

# fx_bucket_mkdir PATH [NAME=VALUE...]: a directory (S3: the marker PATH/).
fx_bucket_mkdir() {
	local path=$1 kv hdrs=()
	shift
	if fx_s3; then
		for kv in "$@"; do hdrs+=(-H "x-amz-meta-${kv%%=*}: ${kv#*=}"); done
		fx_s3req PUT "$(fx_s3_key "$path")/" -d /dev/null "${hdrs[@]}" >/dev/null
		return
	fi
	mkdir -p "$path" || return
	for kv in "$@"; do setfattr -n "user.rustfx.${kv%%=*}" -v "${kv#*=}" "$path" || return; done
}

# fx_bucket_rm PATH...: remove objects (like rm -f: absent ones are fine).
fx_bucket_rm() {
	local p
	if ! fx_s3; then
		rm -f "$@"
		return
	fi
	for p in "$@"; do fx_s3req DELETE "$(fx_s3_key "$p")" >/dev/null || return; done
}

# fx_bucket_rm_r PATH: remove PATH and everything below it.
fx_bucket_rm_r() {
	if ! fx_s3; then
		rm -rf "$1"
		return
	fi
	fx_s3_rm_prefix "$(fx_s3_key "$1")/" && fx_bucket_rm "$1"
}

# fx_bucket_meta PATH: the rustfx metadata stored with PATH, one NAME=VALUE
# a line: file: getfattr's user.rustfx.NAME="VALUE"; S3: x-amz-meta-NAME=VALUE
# from a HEAD (header names lower-cased).
fx_bucket_meta() {
	if ! fx_s3; then
		getfattr -d -m user.rustfx "$1"
		return
	fi
	local hdr=$FX_TMP/s3head.$$
	fx_s3req HEAD "$(fx_s3_key "$1")" -D "$hdr" >/dev/null || return
	tr -d '\r' <"$hdr" | sed -n 's/^\([xX]-[aA][mM][zZ]-[mM][eE][tT][aA]-[^:]*\): *\(.*\)$/\1=\2/p' |
		awk -F= '{ $1 = tolower($1); print }' OFS==
	rm -f "$hdr"
}

# Unmount everything this run mounted, stop what it started (by pid), and in
# S3 mode delete the run's objects. Tests that run a server call this before
# stopping it (the objects go while it still answers), then fx_cleanup.
fx_release() {
	local mnt pid
	set +u
	for mnt in "${FX_MOUNTS[@]}"; do
		if fx_is_mounted "$mnt"; then
			"$RUSTFX_BIN" umount "$mnt" >/dev/null 2>&1
			fx_is_mounted "$mnt" && fusermount3 -u "$mnt" 2>/dev/null
			fx_is_mounted "$mnt" && fusermount3 -uz "$mnt" 2>/dev/null
		fi
	done
	for pid in "${FX_DAEMONS[@]}"; do
		kill -0 "$pid" 2>/dev/null || continue
		kill -TERM "$pid" 2>/dev/null
		sleep 0.5
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	# Daemonized mounts (mount.rustfx, rustfx mount without -f) were started
	# by this run with its own scratch path on their command line.
	if [ -n "$FX_TMP" ]; then
		for pid in $(pgrep -f -- "$FX_TMP/" 2>/dev/null); do
			[ "$pid" = $$ ] && continue
			kill -TERM "$pid" 2>/dev/null
		done
	fi
	# S3 mode: the run's objects go with its scratch directory.
	if [ -n "$FX_S3_PREFIX" ] && [ -z "${FX_KEEP:-}" ] && ! grep -q " $FX_TMP" /proc/mounts; then
		fx_s3_rm_prefix "$FX_S3_PREFIX/" 2>/dev/null
	fi
	FX_S3_PREFIX=""
}

# EXIT trap: fx_release, then remove the scratch root — but never through a
# live mount, which would delete the bucket's contents via the filesystem
# under test.
fx_cleanup() {
	local rc=$?
	fx_release
	if [ -n "$FX_TMP" ] && [ -d "$FX_TMP" ]; then
		if grep -q " $FX_TMP" /proc/mounts; then
			echo "warning: mounts remain under $FX_TMP; leaving it in place" >&2
		elif [ -n "${FX_KEEP:-}" ]; then
			echo "FX_KEEP set: scratch kept at $FX_TMP" >&2
		else
			rm -rf --one-file-system "$FX_TMP"
		fi
	fi
	exit "$rc"
}
