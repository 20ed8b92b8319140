#!/usr/bin/env bash
#
# test_s3_backend.sh - the s3:// backend against a real Ceph radosgw (which
# checks signatures and lists as S3 does), directly and through the fault
# proxy fxproxy.py: mount-time errors, explicit keys as mount options (first
# in the credentials chain, hidden from ps), secrets kept out of every output,
# awkward keys, metadata written by other tools, multipart uploads, retries
# of failed/cut/stalled GETs, failures that must surface as EIO or a close()
# error, and what `ls -l` of a big directory costs in requests.
#
# Starts its own rgw (tests/s3/rgw.sh) under the scratch directory and stops
# it on exit; everything listens on 127.0.0.1 and every wait is bounded.
# Prints "N passed, N failed" and exits non-zero on any failure.

# Snippets in single quotes are expanded by the shell that runs them.
# shellcheck disable=SC2016
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own server; lib.sh reads it in fx_setup
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup
fx_require_fuse

RGW_DIR=$FX_TMP/rgw
PROXY_PIDS=()

# shellcheck disable=SC2317 # run by the EXIT trap
s3b_cleanup() {
	local rc=$? pid
	set +u
	# Unmount and delete the run's objects while the server still answers,
	# stop it, then lib.sh removes the scratch directory.
	fx_release
	for pid in "${PROXY_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	(exit "$rc")
	fx_cleanup
}
trap s3b_cleanup EXIT

FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/rgw.sh" start "$RGW_DIR" >"$FX_TMP/rgw.start" 2>&1 ||
	fx_abort "start radosgw (tests/s3/rgw.sh start)" "$(tail -n 30 "$FX_TMP/rgw.start")"
FX_S3_ENV=$RGW_DIR/env
fx_s3_setup

DATA=$FX_TMP/data
mkdir -p "$DATA"
SECRET=$S3_SECRET_KEY
WRONG_SECRET=wrongSecretThatMustNeverBeShown0000000000

# ------------------------------------------------------------- helpers

# s3b_opts [ENDPOINT]: the -o options that point a mount at ENDPOINT.
s3b_opts() { printf 'endpoint=%s,use_path_request_style,region=%s\n' "${1:-$S3_ENDPOINT}" "$S3_REGION"; }

# mount_fails DESC WANT-RC-ERE STDERR-ERE URL OPTS [VAR=VALUE...]: a mount
# that must fail at once: the process exits by itself within 20 s with an
# exit status matching WANT-RC-ERE, nothing is mounted, and stderr is
# exactly one "error: " line (matching STDERR-ERE) and one "hint: " line.
MOUNT_FAIL_SEQ=0
mount_fails() {
	local desc=$1 want=$2 why=$3 url=$4 opts=$5 mnt t0 secs
	shift 5
	MOUNT_FAIL_SEQ=$((MOUNT_FAIL_SEQ + 1))
	mnt=$FX_TMP/mnt-fail.$MOUNT_FAIL_SEQ
	mkdir -p "$mnt"
	FX_MOUNTS+=("$mnt")
	t0=$(date +%s.%N)
	fx_run env "$@" timeout 30 "$RUSTFX_BIN" mount -f \
		-o "cache_dir=$FX_TMP/cache-fail,log_level=debug,logfile=$FX_TMP/log.fail.$MOUNT_FAIL_SEQ,$opts" \
		"$url" "$mnt"
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	printf '%s\n' "$FX_ERR" >"$FX_TMP/err.fail.$MOUNT_FAIL_SEQ"
	if [[ $FX_RC =~ ^($want)$ ]] && [ "$FX_RC" -ne 124 ]; then
		fx_pass "$desc: exit $FX_RC in ${secs}s"
	else
		fx_fail "$desc: exit status matches ^($want)\$" "took ${secs}s" "$(fx_ctx)"
	fi
	if fx_is_mounted "$mnt"; then
		fx_fail "$desc: nothing is mounted" "$mnt is a mount point"
		fusermount3 -u "$mnt" 2>/dev/null
	else
		fx_pass "$desc: nothing is mounted"
	fi
	local lines nerr nhint
	lines=$(printf '%s\n' "$FX_ERR" | grep -c .)
	nerr=$(printf '%s\n' "$FX_ERR" | grep -c '^error: ')
	nhint=$(printf '%s\n' "$FX_ERR" | grep -c '^hint: ')
	if [ "$lines" -eq 2 ] && [ "$nerr" -eq 1 ] && [ "$nhint" -eq 1 ] &&
		printf '%s\n' "$FX_ERR" | grep '^error: ' | grep -Eq -- "$why"; then
		fx_pass "$desc: one error: line (saying $why) and one hint: line"
	else
		fx_fail "$desc: one error: line (saying $why) and one hint: line" "stderr:" "$FX_ERR"
	fi
}

# fxproxy: one proxy in front of rgw, its rules replaced per scenario.
PROXY_PORT=""
start_proxy() {
	local i
	python3 "$HERE/fxproxy.py" --upstream "$S3_ENDPOINT" --listen 127.0.0.1:0 \
		--port-file "$FX_TMP/proxy.port" --verbose \
		</dev/null >"$FX_TMP/proxy.out" 2>"$FX_TMP/proxy.log" &
	PROXY_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		[ -s "$FX_TMP/proxy.port" ] && break
		sleep 0.1
	done
	PROXY_PORT=$(cat "$FX_TMP/proxy.port" 2>/dev/null)
	[ -n "$PROXY_PORT" ]
}
# proxy METHOD PATH [JSON]: the control API.
proxy() {
	curl -sS --max-time 10 -X "$1" ${3:+-d "$3"} "http://127.0.0.1:$PROXY_PORT/__fxproxy/$2"
}
# proxy_stat EXPR: one number from /__fxproxy/stats, e.g. 'requests.get("HEAD", 0)'.
proxy_stat() {
	proxy GET stats | python3 -c 'import json, sys
s = json.load(sys.stdin)
print(eval(sys.argv[1], {}, {"s": s, "requests": s["requests"], "faults": s["faults"],
                             "responses": s["responses"]}))' "$1"
}

# mount_proxy BUCKET MNT [EXTRA] [CACHE]: fx_mount with the endpoint at the proxy.
mount_proxy() {
	local saved=$FX_S3_OPTS rc
	FX_S3_OPTS=$(s3b_opts "http://127.0.0.1:$PROXY_PORT")
	fx_mount "$@"
	rc=$?
	FX_S3_OPTS=$saved
	return "$rc"
}

# uploads_in_progress KEY-PREFIX: the in-progress multipart uploads of keys
# under KEY-PREFIX, one key a line (GET /BUCKET?uploads).
uploads_in_progress() {
	timeout 60 python3 "$FX_S3_REQ_PY" -t 30 GET \
		"$S3_ENDPOINT/$S3_BUCKET?uploads&prefix=$(python3 -c 'import sys, urllib.parse as u
print(u.quote(sys.argv[1], safe=""))' "$1")" -o "$FX_TMP/uploads.xml" || return 1
	python3 -c 'import sys, xml.etree.ElementTree as ET
for u in ET.parse(sys.argv[1]).getroot().findall("{*}Upload"):
    print(u.findtext("{*}Key"))' "$FX_TMP/uploads.xml"
}

# is_prefix_of SMALL BIG: SMALL's bytes are the first bytes of BIG.
is_prefix_of() { cmp -s -n "$(stat -c %s "$1")" "$1" "$2"; }

# put_many KEY-PREFIX N: N one-byte objects KEY-PREFIXf0000..., 8 at a time
# over keep-alive connections, signed by s3req.py's own code.
put_many() {
	timeout 120 python3 - "$FX_S3_REQ_PY" "$S3_ENDPOINT" "$S3_BUCKET" "$1" "$2" <<'EOF'
import http.client, importlib.util, os, sys, threading, urllib.parse as u
req, endpoint, bucket, prefix, n = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("s3req", req)
s3req = importlib.util.module_from_spec(spec)
spec.loader.exec_module(s3req)
env, failed = os.environ, []

def worker(keys):
    conn = http.client.HTTPConnection(u.urlsplit(endpoint).netloc, timeout=30)
    for key in keys:
        headers = {}
        url = f"{endpoint}/{bucket}/" + u.quote(key, safe="/-_.~")
        target = s3req.sign("PUT", url, headers, b"x", env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"],
                            env.get("S3_REGION", "us-east-1"))
        headers["Content-Length"] = "1"
        conn.request("PUT", target, body=b"x", headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            failed.append(f"{key}: {resp.status}")

keys = [f"{prefix}f{i:04d}" for i in range(int(n))]
threads = [threading.Thread(target=worker, args=(keys[i::8],)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
if failed:
    sys.exit("PUT failed: " + ", ".join(failed[:5]))
EOF
}

# ------------------------------------------------ mount-time failures

printf '%s:%s\n' "$S3_ACCESS_KEY" "$SECRET" >"$FX_TMP/passwd-0644"
chmod 0644 "$FX_TMP/passwd-0644"
printf '%s:%s\n' "$S3_ACCESS_KEY" "$SECRET" >"$FX_TMP/passwd-0600"
chmod 0600 "$FX_TMP/passwd-0600"
DEAD_PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ">=64" as an ERE over exit statuses: 64..125.
GE64='6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-5]'
mount_fails "wrong secret (rgw answers 403)" "$GE64" 'refused|denied|403|[Ss]ignature' \
	"s3://$S3_BUCKET/$FX_S3_PREFIX/fail" "$(s3b_opts)" \
	AWS_SECRET_ACCESS_KEY="$WRONG_SECRET"
fx_match "wrong secret: the debug log shows rgw's 403" \
	"$(cat "$FX_TMP/log.fail.$MOUNT_FAIL_SEQ" 2>&1)" '403|SignatureDoesNotMatch'
mount_fails "missing bucket" "2|$GE64" 'no-such-bucket-[0-9]+|does not exist|NoSuchBucket' \
	"s3://no-such-bucket-$$/x" "$(s3b_opts)"
# An endpoint that is down is a recoverable condition (exit 1: try again
# later), unlike a wrong URL or credentials.
mount_fails "endpoint nobody listens on" "1" "127\\.0\\.0\\.1:$DEAD_PORT|refused|reach" \
	"s3://$S3_BUCKET/x" "$(s3b_opts "http://127.0.0.1:$DEAD_PORT"),retries=2"
mount_fails "invalid bucket name s3://Bad_Bucket" "2" 'Bad_Bucket.*(lower-case|upper|underscore|_)' \
	"s3://Bad_Bucket" "$(s3b_opts)"
mount_fails "invalid bucket name s3://ab (too short)" "2" "'ab'.*(3|length|short|long)" \
	"s3://ab" "$(s3b_opts)"
mount_fails "passwd_file with mode 0644" "2|$GE64" 'passwd-0644.*(readable|mode|permission|0644)' \
	"s3://$S3_BUCKET/x" "$(s3b_opts),passwd_file=$FX_TMP/passwd-0644" \
	-u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY
fx_ok "rgw checks signatures (s3req.py with a wrong secret gets 403)" bash -c \
	"! timeout 30 python3 '$FX_S3_REQ_PY' -s '$WRONG_SECRET' GET '$S3_ENDPOINT/$S3_BUCKET?list-type=2&max-keys=1' \
	 -o /dev/null 2>&1 | grep -v '^http 403 SignatureDoesNotMatch$' | grep -q ."

# A good mount with the passwd file (0600) and no credentials in the environment.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
if fx_mount "$FX_TMP/bk-pw" "$FX_TMP/mnt-pw" "passwd_file=$FX_TMP/passwd-0600"; then
	printf 'via passwd file\n' >"$FX_TMP/mnt-pw/f"
	fx_umount "$FX_TMP/mnt-pw"
fi
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
fx_eq "a passwd_file (0600) mount works: the object was written" "via passwd file" \
	"$(fx_bucket_cat "$FX_TMP/bk-pw/f" 2>&1)"

# ---------------------------- explicit keys: -o access_key_id=,secret_access_key=

# Explicit keys come first in the chain: a wrong secret given this way is
# refused at mount time although the environment holds working keys.
mount_fails "wrong secret_access_key= as a mount option (working keys in the env)" "$GE64" \
	'refused with credentials from settings \[s3\] access_key_id' \
	"s3://$S3_BUCKET/$FX_S3_PREFIX/fail" \
	"$(s3b_opts),access_key_id=$S3_ACCESS_KEY,secret_access_key=$WRONG_SECRET"
mount_fails "access_key_id= without secret_access_key=" "2" \
	'access_key_id is set but secret_access_key is not' \
	"s3://$S3_BUCKET/$FX_S3_PREFIX/fail" "$(s3b_opts),access_key_id=$S3_ACCESS_KEY"

# A good mount with the keys as mount options only: nothing in the
# environment, no passwd file, nothing under HOME. Its debug log lies under
# $FX_TMP, so the scan at the end reads it.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
EXPLICIT_LOG=$FX_TMP/log.explicit-not-mounted
if fx_mount "$FX_TMP/bk-explicit" "$FX_TMP/mnt-explicit" \
	"access_key_id=$S3_ACCESS_KEY,secret_access_key=$SECRET"; then
	EXPLICIT_LOG=$FX_LAST_LOG
	printf 'via -o keys\n' >"$FX_TMP/mnt-explicit/f"
	fx_match "the -o keys mount logs its credentials source (settings)" "$(cat "$FX_LAST_LOG")" \
		'credentials from settings \[s3\] access_key_id$'
	cmdline=$(tr '\0' ' ' <"/proc/$FX_LAST_PID/cmdline" 2>&1)
	if printf '%s' "$cmdline" | grep -qF -- "$SECRET"; then
		fx_fail "/proc/PID/cmdline of the running mount does not show the secret" \
			"it does (pid $FX_LAST_PID)"
	else
		fx_pass "/proc/PID/cmdline of the running mount does not show the secret"
	fi
	fx_match "... it shows secret_access_key=xxx... of the same length instead" "$cmdline" \
		"secret_access_key=x{${#SECRET}}(,| |\$)"
	fx_umount "$FX_TMP/mnt-explicit"
fi
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
fx_eq "a mount with -o access_key_id=,secret_access_key= and no other credentials works" \
	"via -o keys" "$(fx_bucket_cat "$FX_TMP/bk-explicit/f" 2>&1)"

# --------------------------------------- the secret is never shown

fx_run env RUSTFX_S3_ENDPOINT="$S3_ENDPOINT" RUSTFX_S3_PASSWD_FILE="$FX_TMP/passwd-0600" \
	"$RUSTFX_BIN" config print
fx_eq "rustfx config print (passwd_file and env credentials) exits 0" 0 "$FX_RC"
fx_nomatch "rustfx config print does not show the secret" "$FX_OUT$FX_ERR" "$SECRET"
fx_run env RUSTFX_S3_ENDPOINT="$S3_ENDPOINT" "$RUSTFX_BIN" config print --json
fx_nomatch "rustfx config print --json does not show the secret" "$FX_OUT$FX_ERR" "$SECRET"
fx_run env RUSTFX_S3_ACCESS_KEY_ID="$S3_ACCESS_KEY" RUSTFX_S3_SECRET_ACCESS_KEY="$SECRET" \
	"$RUSTFX_BIN" config print
fx_match "config print shows RUSTFX_S3_SECRET_ACCESS_KEY as (hidden), with its source" "$FX_OUT" \
	'^secret_access_key = "\(hidden\)"  # env RUSTFX_S3_SECRET_ACCESS_KEY$'
fx_nomatch "... and not the secret" "$FX_OUT$FX_ERR" "$SECRET"
fx_run env RUSTFX_S3_ACCESS_KEY_ID="$S3_ACCESS_KEY" RUSTFX_S3_SECRET_ACCESS_KEY="$SECRET" \
	"$RUSTFX_BIN" config print --json
fx_eq "config print --json: secret_access_key is \"(hidden)\" from env" "(hidden) env" \
	"$(printf '%s' "$FX_OUT" | python3 -c 'import json, sys
k = json.load(sys.stdin)["s3"]["secret_access_key"]
print(k["value"], k["source"])' 2>&1)"
fx_nomatch "... and not the secret" "$FX_OUT$FX_ERR" "$SECRET"

# ------------------------------------------------- awkward key names

B=$FX_TMP/bk-keys
M=$FX_TMP/mnt-keys
KP=$(fx_s3_key "$B")
fx_mount "$B" "$M" || fx_finish
names=("sp ace" "plus+sign" "per%cent" "üñíçødé" "a b/c+d/%e/deep file+%.txt" "q?mark#hash&amp=eq")
fx_ok "mkdir -p 'a b/c+d/%e' through the mount" mkdir -p "$M/a b/c+d/%e"
for n in "${names[@]}"; do
	printf 'content of %s\n' "$n" >"$M/$n" || fx_fail "create '$n' through the mount"
done
listing=$(fx_s3_list "$KP/" | cut -f1)
for n in "${names[@]}"; do
	fx_match "LIST has the exact key '$n'" "$listing" "^$(printf '%s' "$KP/$n" | sed 's/[][\.*^$?+(){}|/]/\\&/g')\$"
	fx_eq "GET '$n' has its bytes" "content of $n" "$(fx_bucket_cat "$B/$n" 2>&1)"
	fx_eq "cat '$n' through the mount" "content of $n" "$(cat "$M/$n" 2>&1)"
done
for d in "a b" "a b/c+d" "a b/c+d/%e"; do
	fx_match "LIST has the directory marker '$d/'" "$listing" \
		"^$(printf '%s' "$KP/$d/" | sed 's/[][\.*^$?+(){}|/]/\\&/g')\$"
done
fx_nomatch "no key is percent-encoded twice" "$listing" '%2[0-9A-Fa-f]|%25'
fx_umount "$M"
fx_mount "$B" "$M" "" "$FX_TMP/cache-keys2" || fx_finish
fx_same_text "after a remount with an empty cache, find lists the same names" \
	"$(printf '%s\n' "${names[@]}" "a b" "a b/c+d" "a b/c+d/%e" | LC_ALL=C sort)" \
	"$(cd "$M" && find . -mindepth 1 | sed 's|^\./||' | LC_ALL=C sort)"
for n in "${names[@]}"; do
	fx_eq "after remount, cat '$n'" "content of $n" "$(cat "$M/$n" 2>&1)"
done
fx_umount "$M"

# ------------------------------ objects written by other S3 tools

B=$FX_TMP/bk-foreign
printf 'written like s3fs\n' | fx_bucket_put "$B/s3fs.txt" mode=33152 mtime=1577934245 uid=1234 gid=4321
printf 'written like rclone\n' | fx_bucket_put "$B/rclone.txt" mtime=1577934245.123456789
printf 'no metadata at all\n' | fx_bucket_put "$B/plain.txt"
printf 'deep\n' | fx_bucket_put "$B/implicit/dir/deep.txt"
printf 'odd\n' | fx_bucket_put "$B/odd key +%&=?.txt"
head -c 100000 /dev/urandom >"$DATA/100k"
fx_bucket_put "$B/exec.bin" mode=33261 <"$DATA/100k"
printf 's3fs.txt' | fx_bucket_put "$B/link" mode=41471 mtime=1577934245

want_stat() { # NAME: the stat line the stored metadata asks for
	case $1 in
	s3fs.txt) echo "s3fs.txt regular file 600 18 1577934245 1234 4321" ;;
	rclone.txt) echo "rclone.txt regular file 644 20 1577934245 0 0" ;;
	plain.txt) echo "plain.txt regular file 644 19 - 0 0" ;;
	exec.bin) echo "exec.bin regular file 755 100000 - 0 0" ;;
	link) echo "link symbolic link 777 8 1577934245 0 0" ;;
	esac
}
# stat lines with "-" for mtimes that are "about now" (no mtime metadata).
got_stat() {
	local now
	now=$(date +%s)
	(cd "$1" && stat -c '%n %F %a %s %Y %u %g' "${@:2}") 2>&1 |
		awk -v now="$now" '{ if ($(NF-2) > now - 600 && $(NF-2) <= now + 5) $(NF-2) = "-"; print }' |
		sed 's/regular empty file/regular file/'
}
foreign=(s3fs.txt rclone.txt plain.txt exec.bin link)
want=$(for n in "${foreign[@]}"; do want_stat "$n"; done)

M=$FX_TMP/mnt-foreign
fx_mount "$B" "$M" || fx_finish
fx_same_text "objects PUT with s3fs/rclone metadata: stat shows size/mode/mtime/owner" \
	"$want" "$(got_stat "$M" "${foreign[@]}")"
fx_eq "rclone's float mtime keeps its nanoseconds" "2020-01-02 03:04:05.123456789" \
	"$(TZ=UTC stat -c %y "$M/rclone.txt" 2>&1 | cut -c1-29)"
fx_eq "a symlink object (mode 0120777) reads as a link" "s3fs.txt" "$(readlink "$M/link" 2>&1)"
fx_ok "an object with mode 0755 is executable" test -x "$M/exec.bin"
fx_ok "its bytes are right" cmp "$DATA/100k" "$M/exec.bin"
fx_match "an implicit directory (no marker) is listed" "$(ls "$M" 2>&1)" '^implicit$'
fx_eq "... and its file reads" "deep" "$(cat "$M/implicit/dir/deep.txt" 2>&1)"
fx_eq "a key with + % & = ? reads" "odd" "$(cat "$M/odd key +%&=?.txt" 2>&1)"
fx_umount "$M"

# The same objects, but `ls -l` of the directory (readdirplus: attributes
# from the listing) comes first on a fresh mount. With dir_meta=head (as
# s3fs) it must show what stat shows.
fx_mount "$B" "$M" "dir_meta=head" "$FX_TMP/cache-foreign2" || fx_finish
ls_l=$(LC_ALL=C ls -ln --time-style=+%s "$M" 2>&1 | awk '$1 != "total" { print $1, $5, $6, $7 }' |
	grep -E ' (s3fs\.txt|rclone\.txt|plain\.txt|exec\.bin|link)$')
fx_same_text "ls -l first on a fresh mount shows the stored mode, size and mtime" \
	"$(printf '%s\n' "-rw------- 18 1577934245 s3fs.txt" "-rw-r--r-- 20 1577934245 rclone.txt" \
		"-rw-r--r-- 19 x plain.txt" "-rwxr-xr-x 100000 x exec.bin" "lrwxrwxrwx 8 1577934245 link" |
		LC_ALL=C sort -k4)" \
	"$(printf '%s\n' "$ls_l" | awk -v now="$(date +%s)" '{ if ($3 > now - 600) $3 = "x"; print }' |
		LC_ALL=C sort -k4)"
fx_same_text "... and stat agrees right after it" "$want" "$(got_stat "$M" "${foreign[@]}")"
# Changing one attribute must not rewrite the others from what a listing said.
setfattr -n user.note -v hi "$M/s3fs.txt" 2>/dev/null
meta=$(fx_bucket_meta "$B/s3fs.txt" 2>&1)
fx_match "setfattr after ls -l keeps the stored mode (x-amz-meta-mode 33152)" "$meta" '^x-amz-meta-mode=33152$'
fx_match "setfattr after ls -l keeps the stored mtime" "$meta" '^x-amz-meta-mtime=1577934245(\.0+)?$'
mv "$M/rclone.txt" "$M/rclone-moved.txt"
meta=$(fx_bucket_meta "$B/rclone-moved.txt" 2>&1)
fx_match "mv after ls -l keeps the stored mtime (1577934245.123456789)" "$meta" \
	'^x-amz-meta-mtime=1577934245\.123456789$'
mv "$M/rclone-moved.txt" "$M/rclone.txt"
fx_umount "$M"

# The default, dir_meta=listing: ls -l shows what the listing says (size and
# Last-Modified, default mode and owner) at no request per entry; the
# metadata comes with the first open, exec check or change of a file, and
# nothing a change stores back loses what the object held.
fx_mount "$B" "$M" "" "$FX_TMP/cache-foreign3" || fx_finish
ls_l=$(LC_ALL=C ls -ln --time-style=+%s "$M" 2>&1 | awk '$1 != "total" { print $1, $5, $7 }' |
	grep -E ' (s3fs\.txt|rclone\.txt|plain\.txt|exec\.bin|link)$')
fx_same_text "dir_meta=listing: ls -l shows the listed size with the default mode" \
	"$(printf '%s\n' "-rw-r--r-- 18 s3fs.txt" "-rw-r--r-- 20 rclone.txt" "-rw-r--r-- 19 plain.txt" \
		"-rw-r--r-- 100000 exec.bin" "-rw-r--r-- 8 link" | LC_ALL=C sort -k3)" \
	"$(printf '%s\n' "$ls_l" | LC_ALL=C sort -k3)"
fx_ok "... the executable object still runs its exec check against its stored mode" \
	test -x "$M/exec.bin"
fx_ok "... opening a file fetches its metadata" cat "$M/s3fs.txt" >/dev/null
fx_eq "... and stat then shows the stored mode, mtime and owner" "600 1577934245 1234 4321" \
	"$(stat -c '%a %Y %u %g' "$M/s3fs.txt" 2>&1)"
fx_eq "... a symlink listed as a file is followed when opened" "$(cat "$M/s3fs.txt")" \
	"$(cat "$M/link" 2>&1)"
fx_eq "... and reads as the link from then on" "s3fs.txt" "$(readlink "$M/link" 2>&1)"
setfattr -n user.note -v hi2 "$M/rclone.txt" 2>/dev/null
meta=$(fx_bucket_meta "$B/rclone.txt" 2>&1)
fx_match "... setfattr after a listing-only ls -l keeps the stored mtime" "$meta" \
	'^x-amz-meta-mtime=1577934245\.123456789$'
fx_umount "$M"

# -------------------------------------------------- key length with a prefix

# S3 caps the whole key (prefix included) at 1,024 bytes: past that, a
# create must fail as a name that is too long, not as an invalid argument.
seg=$(printf '%0200d' 0)
M=$FX_TMP/mnt-long
if fx_mount "$FX_TMP/bk-long/$seg" "$M"; then # a prefix of about 220 bytes
	fx_ok "a key of 220 + 3 x 201 bytes fits" mkdir -p "$M/$seg/$seg/$seg"
	# 603 + 250 bytes from the mount root, about 1,070 with the prefix.
	fx_run bash -c "printf x > '$M/$seg/$seg/$seg/$(printf '%0250d' 0)'"
	if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'File name too long'; then
		fx_pass "a key over 1,024 bytes counting the mount prefix fails with ENAMETOOLONG"
	else
		fx_fail "a key over 1,024 bytes counting the mount prefix fails with ENAMETOOLONG" \
			"$(fx_ctx | sed "s/$seg/<200 zeros>/g; s/0\{50\}/<50 zeros>/g")"
	fi
	fx_umount "$M"
fi
mount_fails "a prefix segment over 255 bytes" "2" '255|too long|segment' \
	"s3://$S3_BUCKET/$(printf '%0300d' 0)" "$(s3b_opts)"

# ------------------------------------------------------------ multipart

head -c $((12 * 1024 * 1024 + 4321)) /dev/urandom >"$DATA/12m"
B=$FX_TMP/bk-mp
M=$FX_TMP/mnt-mp
fx_mount "$B" "$M" "multipart_threshold=5M,part_size=5M" || fx_finish
fx_ok "cp of a 12 MiB file (multipart_threshold=5M,part_size=5M)" cp "$DATA/12m" "$M/big.bin"
fx_ok "it reads back byte-identical through the mount" cmp "$DATA/12m" "$M/big.bin"
fx_same_file "GET of the object is byte-identical" "$DATA/12m" "$(fx_bucket_file "$B/big.bin")"
fx_s3req HEAD "$(fx_s3_key "$B/big.bin")" -D "$FX_TMP/mp.head" >/dev/null 2>&1
fx_match "its ETag is a multipart one (MD5-of-MD5s-3)" "$(cat "$FX_TMP/mp.head" 2>&1)" \
	'^ETag: "?[0-9a-f]{32}-3"?'
fx_match "the debug log shows the multipart upload" "$(cat "$FX_LAST_LOG")" '[Mm]ultipart|part'
fx_eq "no multipart upload is left in progress" "" "$(uploads_in_progress "$FX_S3_PREFIX/" 2>&1)"
# ... a check that can fail: an upload begun by hand is listed until aborted.
probe=$(fx_s3_key "$B/probe")
upload_id=$(timeout 60 python3 "$FX_S3_REQ_PY" -t 30 POST "$(fx_s3_url "$probe" uploads)" |
	sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
fx_eq "an upload begun by hand is listed as in progress" "$probe" "$(uploads_in_progress "$probe" 2>&1)"
timeout 60 python3 "$FX_S3_REQ_PY" -t 30 DELETE "$(fx_s3_url "$probe" "uploadId=$upload_id")" >/dev/null
fx_eq "... and no longer once aborted" "" "$(uploads_in_progress "$probe" 2>&1)"
fx_umount "$M"
fx_mount "$B" "$M" "" "$FX_TMP/cache-mp2" || fx_finish
fx_ok "after a remount with an empty cache it reads back byte-identical" cmp "$DATA/12m" "$M/big.bin"
fx_umount "$M"

# ------------------------------------------------ faults through fxproxy

start_proxy || fx_abort "start fxproxy.py" "$(cat "$FX_TMP/proxy.log" "$FX_TMP/proxy.out" 2>&1)"
fx_log "fxproxy on 127.0.0.1:$PROXY_PORT -> $S3_ENDPOINT"
head -c $((6 * 1024 * 1024 + 77)) /dev/urandom >"$DATA/6m"
B=$FX_TMP/bk-fault
fx_bucket_put "$B/obj6m" <"$DATA/6m" || fx_fail "PUT the 6 MiB object for the fault scenarios"
OBJ_PATH_RE="/$(fx_s3_key "$B/obj6m")\$"
M=$FX_TMP/mnt-fault
n=0

# fault_mount EXTRA: a fresh mount (fresh cache: every byte from the server).
fault_mount() {
	n=$((n + 1))
	mount_proxy "$B" "$M" "$1" "$FX_TMP/cache-fault.$n"
}

# 503 SlowDown on every third GET.
proxy POST rules '[{"method":"GET","every":3,"status":503}]' >/dev/null
proxy DELETE stats >/dev/null
fault_mount "retry_base_ms=10,retry_max_ms=100" || fx_finish
fx_run timeout 60 cmp "$DATA/6m" "$M/obj6m"
fx_eq "503 SlowDown on every 3rd GET: cat is byte-identical" 0 "$FX_RC"
fx_ok "... the proxy did answer 503s" test "$(proxy_stat 'faults["status"]')" -gt 0
fx_match "... the debug log shows retries with attempt numbers" "$(cat "$FX_LAST_LOG")" \
	'retrying GET .*attempt [0-9]+'
fx_umount "$M"

# 503 SlowDown on every other listing: listings are retried, and the error
# document goes to the error parser, not the listing parser.
# (dir_ttl=0: the ls lists the root again, not the page the mount's check
# listed.)
proxy POST rules '[{"method":"GET","query":"list-type","every":2,"status":503}]' >/dev/null
proxy DELETE stats >/dev/null
fault_mount "retry_base_ms=10,retry_max_ms=100,dir_ttl=0" || fx_finish
fx_run timeout 60 ls "$M"
fx_eq "503 on every other listing: ls still succeeds" 0 "$FX_RC"
fx_match "... and lists the object" "$FX_OUT" '^obj6m$'
fx_ok "... the proxy did answer 503s to listings" test "$(proxy_stat 'faults["status"]')" -gt 0
fx_nomatch "... no listing failed as a protocol error" "$(cat "$FX_LAST_LOG")" 'Protocol error'
fx_match "... the retry names the S3 error code" "$(cat "$FX_LAST_LOG")" 'retrying GET .*HTTP 503 SlowDown'
fx_umount "$M"

# reset_mid_body: the connection is RST in the middle of every other GET body.
proxy POST rules "[{\"method\":\"GET\",\"path\":\"$OBJ_PATH_RE\",\"every\":2,\"reset_mid_body\":true}]" >/dev/null
proxy DELETE stats >/dev/null
fault_mount "retry_base_ms=10,retry_max_ms=100" || fx_finish
fx_run timeout 60 cmp "$DATA/6m" "$M/obj6m"
fx_eq "reset_mid_body on every 2nd GET: cat is byte-identical" 0 "$FX_RC"
fx_ok "... the proxy did reset connections" test "$(proxy_stat 'faults["reset_mid_body"]')" -gt 0
fx_match "... the debug log shows the retries" "$(cat "$FX_LAST_LOG")" 'retrying GET'
fx_umount "$M"

# stall: the first GET of the object stops sending for 60 s mid-body.
proxy POST rules "[{\"method\":\"GET\",\"path\":\"$OBJ_PATH_RE\",\"first\":1,\"stall\":60}]" >/dev/null
proxy DELETE stats >/dev/null
fault_mount "stall_timeout=2,retry_base_ms=10,retry_max_ms=100" || fx_finish
t0=$SECONDS
fx_run timeout 60 cmp "$DATA/6m" "$M/obj6m"
secs=$((SECONDS - t0))
fx_eq "stall (60 s) with stall_timeout=2: cat is byte-identical" 0 "$FX_RC"
fx_ok "... the proxy did stall a transfer" test "$(proxy_stat 'faults["stall"]')" -gt 0
if [ "$secs" -le 20 ]; then
	fx_pass "... the stalled transfer was abandoned (cat took ${secs}s, not 60)"
else
	fx_fail "... the stalled transfer was abandoned" "cat took ${secs}s"
fi
fx_match "... and retried (debug log)" "$(cat "$FX_LAST_LOG")" 'retrying GET'
fx_umount "$M"

# Every GET of the object fails with 500: EIO, and never wrong bytes.
proxy POST rules "[{\"method\":\"GET\",\"path\":\"$OBJ_PATH_RE\",\"status\":500}]" >/dev/null
proxy DELETE stats >/dev/null
fault_mount "retries=2,retry_base_ms=10,retry_max_ms=100" || fx_finish
fx_run timeout 60 bash -c "cat '$M/obj6m' > '$FX_TMP/eio.out'"
if [ "$FX_RC" -ne 0 ] && [ "$FX_RC" -ne 124 ] && printf '%s' "$FX_ERR" | grep -q 'Input/output error'; then
	fx_pass "500 on every GET (retries=2): cat fails with 'Input/output error'"
else
	fx_fail "500 on every GET (retries=2): cat fails with 'Input/output error'" "$(fx_ctx)"
fi
fx_ok "... and what it printed is a prefix of the true bytes (no wrong bytes)" \
	is_prefix_of "$FX_TMP/eio.out" "$DATA/6m"
fx_eq "... GETs were attempted exactly 2 times per request (500s are even)" 0 \
	"$(($(proxy_stat 'responses.get("500", 0)') % 2))"
proxy DELETE rules >/dev/null
fx_umount "$M"

# A 500 on every part upload (retries=1): the copy fails at close, and the
# upload is aborted.
proxy POST rules '[{"method":"PUT","query":"partNumber","first":100000,"status":500}]' >/dev/null
proxy DELETE stats >/dev/null
fault_mount "multipart_threshold=5M,part_size=5M,retries=1" || fx_finish
fx_run timeout 120 cp "$DATA/12m" "$M/upload.bin"
if [ "$FX_RC" -ne 0 ] && [ "$FX_RC" -ne 124 ]; then
	fx_pass "500 on part uploads (retries=1): cp fails"
else
	fx_fail "500 on part uploads (retries=1): cp fails" "$(fx_ctx)"
fi
fx_match "... with the error of close() or write()" "$FX_ERR" \
	'(error (closing|writing)|Input/output error|No space|Remote I/O|failed to close)'
fx_ok "... the proxy did refuse part uploads" test "$(proxy_stat 'faults["status"]')" -gt 0
fx_eq "... no multipart upload is left in progress (aborted)" "" \
	"$(uploads_in_progress "$(fx_s3_key "$B")/" 2>&1)"
fx_ok "... the proxy saw the DELETE (AbortMultipartUpload)" \
	test "$(proxy_stat 'requests.get("DELETE", 0)')" -gt 0
if fx_bucket_is_file "$B/upload.bin" 2>/dev/null; then
	got=$(fx_bucket_file "$B/upload.bin")
	if [ "$(stat -c %s "$got")" -eq 0 ] || cmp -s "$got" "$DATA/12m"; then
		fx_pass "... the object is absent, empty or whole (never partial)"
	else
		fx_fail "... the object is absent, empty or whole (never partial)" \
			"size $(stat -c %s "$got") of $(stat -c %s "$DATA/12m")"
	fi
else
	fx_pass "... the object is absent, empty or whole (never partial)"
fi
proxy DELETE rules >/dev/null
fx_umount "$M"

# ------------------------------------ what ls -l of 1,000 objects costs

B=$FX_TMP/bk-many
fx_ok "PUT 1,000 objects under many/ (no marker)" put_many "$(fx_s3_key "$B")/many/" 1000
fx_eq "LIST sees 1,000 keys" 1000 "$(fx_s3_list "$(fx_s3_key "$B")/many/" | wc -l)"
M=$FX_TMP/mnt-many
mount_proxy "$B" "$M" "" "$FX_TMP/cache-many" || fx_finish
# Nothing cached: the first look at the directory is through ls -l.
proxy DELETE stats >/dev/null
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_run timeout 60 ls -l "$M/many"
fx_eq "ls -l of 1,000 objects lists them all" 1000 "$(printf '%s\n' "$FX_OUT" | grep -c '^-')"
gets=$(proxy_stat 'requests.get("GET", 0)')
heads=$(proxy_stat 'requests.get("HEAD", 0)')
total=$(proxy_stat 's["requests_total"]')
lists=$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: GET [^ ]*list-type=2')
fx_log "ls -l of 1,000 objects after a remount: $total requests: $gets GET ($lists of them list pages), $heads HEAD"
tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | sed "s|$(fx_s3_key "$B")|<prefix>|g; s/^/#   /"
# The lookup of "many" probes it with the first page of its listing, which
# the opendir that follows takes: one page in all.
if [ "$lists" -eq 1 ] && [ "$gets" -eq "$lists" ]; then
	fx_pass "ls -l costs one list page: $lists GET list call"
else
	fx_fail "ls -l costs one list page" "$gets GETs, of them $lists list calls; expected 1 and no other GET"
fi
# S3 listings carry no user metadata; with dir_meta=listing (the default)
# ls -l shows the listing's attributes: no HEAD per object. Nor one for the
# directory's name: the root's page, listed by the mount's check, shows
# many/ as a directory and no file of that name.
fx_eq "ls -l sends no HEAD at all (none per object, none for the directory's name)" 0 "$heads"
fx_run timeout 60 ls -l "$M/many"
fx_eq "a second ls -l within attr_timeout costs nothing new" \
	"$heads" "$(proxy_stat 'requests.get("HEAD", 0)')"
# A listed file's first open HEADs it for its own metadata; its first block
# is fetched meanwhile, so with HEADs slowed the GET finishes first (the
# proxy logs a request when it ends).
proxy POST rules '[{"method":"HEAD","latency":1500}]' >/dev/null
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "cat of a listed file (HEADs slowed by 1.5 s)" x "$(cat "$M/many/f0003")"
proxy DELETE rules >/dev/null
fx_eq "... its first block's GET ran during the HEAD" "GET HEAD " \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -o '^fxproxy: [A-Z]* [^ ]*many/f0003' |
		cut -d' ' -f2 | tr '\n' ' ')"
head_us=$(fx_stat "$M" requests.head.latency_sum_us)
fx_eq "... and the stats time that HEAD (latency_sum_us >= 1.5 s)" yes \
	"$([ "$head_us" -ge 1500000 ] 2>/dev/null && echo yes || echo "no: $head_us")"
modes1=$(ls -l "$M/many" | awk '{print $1, $3, $5, $6, $7, $8, $9}' | md5sum)
fx_ok "chmod one object through the mount" chmod 751 "$M/many/f0007"
modes1c=$(ls -l "$M/many" | awk '{print $1, $3, $5, $6, $7, $8, $9}' | md5sum)
fx_umount "$M"
# The cache remembers each object's metadata for the version listed, so a
# new mount (same cache_dir) lists with no HEAD, and still shows the chmod.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-many" || fx_finish
proxy DELETE stats >/dev/null
fx_run timeout 60 ls -l "$M/many"
fx_eq "after a remount ls -l of 1,000 objects sends no HEAD but for the changed one (at most 3)" yes \
	"$([ "$(proxy_stat 'requests.get("HEAD", 0)')" -le 3 ] && echo yes || echo "no: $(proxy_stat 'requests.get("HEAD", 0)') HEADs")"
fx_eq "... and shows the same modes, owners, sizes and times as before the remount" \
	"$modes1c" "$(ls -l "$M/many" | awk '{print $1, $3, $5, $6, $7, $8, $9}' | md5sum)"
fx_eq "... including the chmod made before it" "-rwxr-x--x" "$(stat -c %A "$M/many/f0007")"
[ "$modes1" != "$modes1c" ] || fx_fail "the chmod changed the listing" "it did not"
fx_umount "$M"
# The mount checks the bucket with the first page of the root's listing and
# keeps it: the first ls of the mount point lists nothing. (It HEADs many/,
# a marker that would hold the directory's mode, as every listing does.)
mount_proxy "$B" "$M" "" "$FX_TMP/cache-many-root" || fx_finish
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "ls of the mount point right after mounting shows many" many "$(ls "$M")"
fx_eq "... with no list request, and only many/'s marker HEADed" "0 1" \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: GET [^ ]*list-type=2') $(
		tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: HEAD [^ ]*/many/ ')"
fx_umount "$M"
# Paths used with no listing (a program opening its files by name): the
# lookup of many/ fetched its first page, and names in it are answered from
# that page. A file small enough to be a symlink is HEADed at lookup, its
# bytes fetched meanwhile (none again at open); a name the page lacks costs
# nothing.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-many-paths" || fx_finish
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "cat of many/f0005 by its path, cold" x "$(cat "$M/many/f0005")"
fx_eq "... and of many/f0006" x "$(cat "$M/many/f0006")"
fx_ok "... a name not in the listing is absent" bash -c "! stat '$M/many/nothere' 2>/dev/null"
reqs=$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log")
fx_eq "... costing 1 list page, 2 HEADs (each file at lookup) and 2 object GETs" "1 2 2" \
	"$(grep -c '^fxproxy: GET [^ ]*list-type=2' <<<"$reqs") $(grep -c '^fxproxy: HEAD ' <<<"$reqs") $(grep -c '^fxproxy: GET [^ ?]*many/f000[56] ' <<<"$reqs")"
fx_umount "$M"
# A larger file by path (it cannot be a symlink): the lookup gives the
# listed attributes for the kernel to ask again at once, so stat HEADs it
# and shows its own mode, and a cat HEADs it and fetches its first block
# together.
fx_bucket_put "$B/paths/big" mode=33152 <"$DATA/100k"
mount_proxy "$B" "$M" "" "$FX_TMP/cache-paths1" || fx_finish
fx_eq "stat of paths/big by its path, cold, shows its stored mode" 600 "$(stat -c %a "$M/paths/big")"
fx_umount "$M"
mount_proxy "$B" "$M" "" "$FX_TMP/cache-paths2" || fx_finish
proxy POST rules '[{"method":"HEAD","latency":1500}]' >/dev/null
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_ok "cat of paths/big by its path, cold (HEADs slowed by 1.5 s)" cmp "$DATA/100k" "$M/paths/big"
proxy DELETE rules >/dev/null
fx_eq "... its first block's GET ran during its one HEAD" "GET HEAD " \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -o '^fxproxy: [A-Z]* [^ ]*paths/big' |
		cut -d' ' -f2 | tr '\n' ' ')"
fx_eq "... and stat then shows its stored mode" 600 "$(stat -c %a "$M/paths/big")"
fx_umount "$M"
# A listed file looked up again after the kernel dropped its dentry, while
# rustfx still holds the listing's attributes: stat asks for the rest.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-paths3" || fx_finish
fx_eq "ls -l of paths/ shows big with the listing's mode" "-rw-r--r--" \
	"$(ls -l "$M/paths" | awk '$NF == "big" { print $1 }')"
sync
echo 2 >/proc/sys/vm/drop_caches
fx_eq "... after drop_caches, stat of paths/big shows its stored mode" 600 "$(stat -c %a "$M/paths/big")"
fx_umount "$M"

# -------------------------------------------- a walk: find, ls -R, du
# A directory opened right after its parent was listed is being walked: its
# whole subtree is asked for in one page, and the directories in it need no
# request of their own (nor a HEAD when they have no marker).

B=$FX_TMP/bk-walk
for d in 0 1 2; do
	for s in 0 1 2; do
		put_many "$(fx_s3_key "$B")/walk/d$d/s$s/" 2 || fx_fail "PUT walk/d$d/s$s/" "failed"
	done
done
fx_ok "PUT 1,005 objects under walk/big/: more than one list page" \
	put_many "$(fx_s3_key "$B")/walk/big/" 1005
put_many "$(fx_s3_key "$B")/walk/a0/" 2 || fx_fail "PUT walk/a0/" "failed"
M=$FX_TMP/mnt-walk
mount_proxy "$B" "$M" "" "$FX_TMP/cache-walk1" || fx_finish
fx_ok "mkdir + chmod 710 of walk/d1/s9 (a marker holding a mode)" \
	bash -c "mkdir '$M/walk/d1/s9' && chmod 710 '$M/walk/d1/s9'"
fx_umount "$M"
mount_proxy "$B" "$M" "" "$FX_TMP/cache-walk2" || fx_finish
proxy DELETE stats >/dev/null
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_run timeout 60 find "$M/walk"
# 16 directories (walk, a0, big, d0-d2, 9 + 1 below them) and 1,025 files
fx_eq "find shows every file and directory of the tree" 1041 "$(printf '%s\n' "$FX_OUT" | wc -l)"
lists=$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: GET [^ ]*list-type=2')
heads=$(proxy_stat 'requests.get("HEAD", 0)')
fx_log "find of the tree: $lists list pages, $heads HEADs"
tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | sed "s|$(fx_s3_key "$B")|<prefix>|g; s/^/#   /"
# The lookup of walk (its first page, which its opendir takes), one page
# for a0 (the walk's first directory) and for each of d0-d2, and for big/,
# listed ahead, the two pages of its subtree (a walk in the foreground
# takes one page, which cannot hold it, then lists it: 3); a listing per
# directory would cost 18.
fx_eq "... in one list page per small subtree, two for big/ (7 in all)" yes \
	"$([ "$lists" -le 7 ] && echo yes || echo "no: $lists list pages")"
# HEADs: the markers of a0, big and d0-d2 (listed in walk/), and s9's
# marker, whose key the page showed; none for the other s dirs, nor for the
# lookup of walk (the root's page from the mount shows it as a directory).
fx_eq "... HEADing only the markers there are (at most 6)" yes \
	"$([ "$heads" -le 6 ] && echo yes || echo "no: $heads HEADs")"
fx_eq "the mode of a marker found by the walk shows" "drwx--x---" "$(stat -c %A "$M/walk/d1/s9")"
fx_eq "a listing of big/ from plain pages has all 1,005 objects" 1005 "$(ls "$M/walk/big" | wc -l)"
fx_ok "create a file in a walked directory" touch "$M/walk/d2/s2/new"
fx_eq "... a new walk shows it" 1 "$(find "$M/walk" -name new | wc -l)"
fx_umount "$M"
# A remount on the same cache: a walk's page shows d1/s9's marker key with
# its version, for which the cache remembers the marker's metadata.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-walk2" || fx_finish
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "after a remount, find of the tree shows it all" 1042 "$(find "$M/walk" | wc -l)"
fx_eq "... with no HEAD of d1/s9's marker (remembered)" 0 \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: HEAD [^ ]*/walk/d1/s9/ ')"
fx_eq "... whose mode still shows" "drwx--x---" "$(stat -c %A "$M/walk/d1/s9")"
fx_umount "$M"
# Renames keep what the cache remembers of the objects they move: after a
# remount on that cache, ls -l of the new names shows the metadata written
# through the mount, with no HEAD. (Without it the kernel showed the modes
# only while it held the inodes, and the listing's defaults once it forgot
# them.)
mount_proxy "$B" "$M" "" "$FX_TMP/cache-mv" || fx_finish
fx_ok "write walk/mv/{a,b} with modes 640 and 600, walk/one with 604" bash -c "
	mkdir '$M/walk/mv' && echo a >'$M/walk/mv/a' && echo b >'$M/walk/mv/b' &&
	echo o >'$M/walk/one' && chmod 640 '$M/walk/mv/a' && chmod 600 '$M/walk/mv/b' &&
	chmod 604 '$M/walk/one'"
fx_ok "mv of the directory to walk/mv2 and of the file to walk/one2" bash -c "
	mv '$M/walk/mv' '$M/walk/mv2' && mv '$M/walk/one' '$M/walk/one2'"
fx_umount "$M"
mount_proxy "$B" "$M" "" "$FX_TMP/cache-mv" || fx_finish
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "after a remount, ls -l of the moved files shows their modes" \
	"-rw-r----- a -rw------- b -rw----r-- one2" \
	"$(ls -l "$M/walk/mv2" | awk 'NR > 1 { printf "%s %s ", $1, $9 }'; ls -l "$M/walk" | awk '$9 == "one2" { printf "%s %s", $1, $9 }')"
fx_eq "... with no HEAD of them" 0 \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: HEAD [^ ]*/walk/\(mv2/[ab]\|one2\) ')"
fx_umount "$M"
# A directory larger than a page, looked up cold: its lookup's page is the
# first of its listing, and the opendir asks for the rest with its token.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-walk3" || fx_finish
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "ls of walk/big, cold, shows all 1,005 objects" 1005 "$(ls "$M/walk/big" | wc -l)"
big=$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep '^fxproxy: GET [^ ]*list-type=2[^ ]*prefix=[^ ]*big%2F ')
fx_eq "... in 2 list pages of big/, the second after the lookup's token" \
	"2 1" "$(printf '%s\n' "$big" | grep -c .) $(printf '%s\n' "$big" | grep -c 'continuation-token=')"
fx_umount "$M"
# A token the server no longer takes: the listing starts afresh.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-walk4" || fx_finish
proxy POST rules '[{"method":"GET","query":"continuation-token","first":1,"status":400,"code":"InvalidArgument"}]' >/dev/null
fx_eq "a refused continuation token: ls of walk/big still shows all 1,005 objects" 1005 \
	"$(ls "$M/walk/big" | wc -l)"
fx_eq "... after one refusal" 1 \
	"$(proxy GET rules | python3 -c 'import json, sys; print(json.load(sys.stdin)["rules"][0]["fired"])')"
proxy DELETE rules >/dev/null
fx_umount "$M"

# Walk-ahead: when a walk opens a directory, its next siblings are listed in
# the background. With the listing of t0 held back 3 s by the proxy, those
# of t1-t5 end first (the proxy logs a request when it ends); a walk that
# lists one directory after another could only ask for t1 after t0's.
B=$FX_TMP/bk-ahead
for t in 0 1 2 3 4 5; do
	put_many "$(fx_s3_key "$B")/ahead/t$t/" 2 || fx_fail "PUT ahead/t$t/" "failed"
done
mount_proxy "$B" "$M" "" "$FX_TMP/cache-ahead" || fx_finish
proxy POST rules '[{"method":"GET","query":"ahead%2Ft0%2F","latency":3000}]' >/dev/null
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_run timeout 60 find "$M/ahead"
proxy DELETE rules >/dev/null
fx_eq "find of 6 directories of 2 files each, listed ahead" 19 "$(printf '%s\n' "$FX_OUT" | wc -l)"
order=$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep '^fxproxy: GET [^ ]*list-type=2' |
	grep -o 'ahead%2Ft[0-9]%2F' | sed 's/ahead%2Ft\([0-9]\)%2F/\1/' | tr -d '\n')
fx_eq "... each listed once" 012345 "$(grep -o . <<<"$order" | sort | tr -d '\n')"
fx_eq "... t1-t5 while t0's listing was held back (order of completion: $order)" 0 "${order: -1}"
log_from=$(wc -l <"$FX_TMP/proxy.log")
fx_eq "... a second find shows the same" 19 "$(find "$M/ahead" | wc -l)"
fx_eq "... and lists nothing again" 0 \
	"$(tail -n +$((log_from + 1)) "$FX_TMP/proxy.log" | grep -c '^fxproxy: GET [^ ]*list-type=2')"
fx_umount "$M"
# A file created while a walk-ahead lists its directory: the listing, taken
# before the change, is not shown after it.
mount_proxy "$B" "$M" "" "$FX_TMP/cache-ahead2" || fx_finish
proxy POST rules '[{"method":"GET","query":"ahead%2Ft3%2F","latency":2000}]' >/dev/null
ls "$M/ahead" >/dev/null
ls "$M/ahead/t0" >/dev/null # a walk: t1-t5 are listed ahead, t3 slowly
fx_ok "create ahead/t3/new while t3 is being listed ahead" touch "$M/ahead/t3/new"
proxy DELETE rules >/dev/null
fx_eq "... find then shows it" "$M/ahead/t3/new" "$(find "$M/ahead" -name new)"
fx_umount "$M"

# ----------------------------------------------- the secret, everywhere

leaks=$(grep -rlaF -- "$SECRET" "$FX_TMP" 2>/dev/null |
	grep -v -e "^$RGW_DIR/" -e "^$FX_TMP/passwd-06\(00\|44\)$" || true)
fx_eq "no log, error output or cache file of rustfx holds the secret" "" "$leaks"
leaks=$(grep -rlaF -- "$WRONG_SECRET" "$FX_TMP" 2>/dev/null | grep -v "^$RGW_DIR/" || true)
fx_eq "... nor the wrong secret of the refused mount" "" "$leaks"
fx_ok "the scan above did look at the debug logs" test -s "$FX_TMP/log.1"
fx_ok "... among them the log of the -o secret_access_key= mount" test -s "$EXPLICIT_LOG"
fx_ok "... and of the refused -o secret_access_key= mount" bash -c \
	"grep -l 'credentials from settings' '$FX_TMP'/log.fail.* | grep -q ."

fx_finish
