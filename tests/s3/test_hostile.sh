#!/usr/bin/env bash
#
# test_hostile.sh - object keys and backing-directory names that another tool
# can plant and that rustfx must show, hide or refuse without ever leading
# out of the mount point or the cache directory, and without the daemon
# going down.
#
# S3 (a real radosgw, started here under the scratch directory): keys "..",
# ".", "d/../b", "d//b", "d/./b", a directory marker with a body, control
# characters and a backslash in a name, a 256-byte segment, a key over 1,024
# bytes (when the server takes it), an object "same" beside keys "same/...",
# and a key with a leading '/'. file://: names with a newline, a tab, a
# control character and a backslash, a FIFO and a socket, and writes through
# planted symlinks (reading through them is test_persist.sh's part).
#
# The rules under test are those of fs/namespace.c (fx_ns_entry_name: a name
# that is empty, ".", ".." or over 255 bytes is hidden, with a warning) and
# backends/key.c (fx_key_check); README.md "Hostile names" writes down the
# outcome. Prints "N passed, N failed" and exits non-zero on any failure.

# ls is what is under test here, odd names and all:
# shellcheck disable=SC2010,SC2012
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own server; lib.sh reads it in fx_setup
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup
fx_require_fuse

RGW_DIR=$FX_TMP/rgw

# shellcheck disable=SC2317 # run by the EXIT trap
hostile_cleanup() {
	local rc=$?
	set +u
	fx_release
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	(exit "$rc")
	fx_cleanup
}
trap hostile_cleanup EXIT

# tree DIR: every path under DIR, one a line, newlines in names shown as \n.
tree() { (cd "$1" && find . -mindepth 1 -printf '%P\t%y\n' 2>/dev/null | sed 's/\n/\\n/g' | LC_ALL=C sort); }

# alive DESC: the daemon of the last mount runs and the mount answers.
alive() {
	if kill -0 "$FX_LAST_PID" 2>/dev/null && fx_is_mounted "$M" && timeout 10 stat "$M" >/dev/null 2>&1; then
		fx_pass "$1: the daemon keeps running and the mount answers"
	else
		fx_fail "$1: the daemon keeps running and the mount answers" \
			"$(tail -n 30 "$FX_LAST_STDERR" "$FX_LAST_LOG" 2>&1)"
	fi
}

# ================================================================ S3

FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/rgw.sh" start "$RGW_DIR" >"$FX_TMP/rgw.start" 2>&1 ||
	fx_abort "start radosgw (tests/s3/rgw.sh start)" "$(tail -n 30 "$FX_TMP/rgw.start")"
FX_S3_ENV=$RGW_DIR/env
fx_s3_setup

# The server is this test's own: every mount here is of the whole bucket, so
# a key that starts with '/' (which no run prefix can hold) is in it too.
fx_url() { printf 's3://%s\n' "$S3_BUCKET"; }

# put KEY BODY: PUT a raw key (KEY exactly as stored); 0 when the server
# took it. The key is percent-encoded with '.' encoded too, so that no HTTP
# layer can fold a "." or ".." segment.
put() {
	local url
	url=$(python3 -c 'import sys, urllib.parse as u
print(sys.argv[1] + "/" + u.quote(sys.argv[2], safe="/-_~").replace(".", "%2E"))' \
		"$S3_ENDPOINT/$S3_BUCKET" "$1")
	printf '%s' "$2" >"$FX_TMP/body"
	timeout 60 python3 "$FX_S3_REQ_PY" -t 30 PUT "$url" -d "$FX_TMP/body" >/dev/null 2>"$FX_TMP/put.err"
}

long_seg=$(printf 'L%.0s' {1..256})
seg250=$(printf 'k%.0s' {1..250})
long_key="lk/$seg250/$seg250/$seg250/$seg250/$seg250"
declare -A KEYS=(
	[dotdot]=".."
	[dot]="."
	[up]="up/../escaped"
	[dbl]="dbl//b"
	[cur]="cur/./b"
	[marker]="mk/"
	[ctl1]=$'ctl\x01one'
	[nl]=$'new\nline'
	[tab]=$'tab\there'
	[del]=$'del\x7fete'
	[bs]='back\slash'
	[seg256]="$long_seg"
	[longkey]="$long_key"
	[same_f]="same"
	[same_d]="same/inner"
	[lead]="/lead"
	[plain]="plain"
	[inject]="x"$'\n'"INJECTED log line $long_seg"
	[escaped]="escaped"
)
declare -A STORED=()
for k in "${!KEYS[@]}"; do
	if put "${KEYS[$k]}" "body of $k"; then
		STORED[$k]=1
	else
		fx_log "radosgw refused key $k: $(head -c 200 "$FX_TMP/put.err")"
	fi
done
LISTING=$(timeout 60 python3 "$FX_S3_REQ_PY" -t 30 GET "$S3_ENDPOINT/$S3_BUCKET?list-type=2" 2>&1)
fx_log "radosgw stored $(printf '%s' "$LISTING" | grep -o '<Key>' | wc -l) keys"
# The ones the checks below are about must be there; the rest depend on
# the server (S3 itself refuses a key over 1,024 bytes).
for k in dotdot dot up dbl cur marker ctl1 nl tab del bs seg256 same_f same_d plain escaped inject; do
	fx_eq "radosgw stores the key $k" 1 "${STORED[$k]:-0}"
done

M=$FX_TMP/mnt/s3
CACHE=$FX_TMP/cachebox/cache
mkdir -p "$FX_TMP/cachebox" "$FX_TMP/mnt"
before_cache=$(tree "$FX_TMP/cachebox")
before_mnt=$(tree "$FX_TMP/mnt")
fx_mount "$S3_BUCKET" "$M" "" "$CACHE" || fx_finish

fx_run ls -1A "$M"
root_ls=$FX_OUT
fx_eq "ls of the bucket root succeeds" 0 "$FX_RC"
want_root=$(printf '%s\n' back\\slash cur ctl$'\x01'one dbl del$'\x7f'ete escaped mk new$'\n'line plain same tab$'\t'here up \
	${STORED[longkey]:+lk} | LC_ALL=C sort)
fx_same_text "ls shows exactly the safe names (no '.', '..', 256-byte or empty name)" \
	"$(printf '%s\n' "$want_root" | cat -v)" "$(ls -1A "$M" | LC_ALL=C sort | cat -v)"
fx_eq "'same' (an object and a prefix) is listed once" 1 \
	"$(printf '%s\n' "$root_ls" | grep -cx same)"
if printf '%s' "$LISTING" | grep -q '<Key>/lead</Key>'; then
	fx_match "the key '/lead' (leading '/') is hidden, and the log says why" "$(cat "$FX_LAST_LOG")" \
		"hiding key '/(lead)?'"
else
	fx_log "radosgw did not store the key '/lead' as is; nothing to check"
fi
fx_match "the debug log says why '..' is hidden" "$(cat "$FX_LAST_LOG")" "hiding key '\.\.'"
fx_match "... and the 256-byte name" "$(cat "$FX_LAST_LOG")" "hiding key 'L{256}'"

# What the kernel resolves never reaches an object named "." or "..".
fx_eq "stat '$M/..' is the mount's parent, not an object" "$(stat -c %i "$FX_TMP/mnt")" \
	"$(stat -c %i "$M/.." 2>&1)"
fx_eq "cat up/../escaped reads the object 'escaped' (the kernel folds ..)" "body of escaped" \
	"$(cat "$M/up/../escaped" 2>&1)"
fx_eq "up/ lists nothing (its one key has a '..' segment)" "" "$(ls -A "$M/up" 2>&1)"
fx_eq "dbl/ lists nothing (its one key has an empty segment)" "" "$(ls -A "$M/dbl" 2>&1)"
fx_eq "cur/ lists nothing (its one key has a '.' segment)" "" "$(ls -A "$M/cur" 2>&1)"
fx_not "stat cur/./b finds nothing" stat "$M/cur/./b"
fx_not "stat of the 256-byte name is refused" stat "$M/$long_seg"
fx_match "... as too long" "$FX_ERR" 'too long'

# Control characters and a backslash are legal in a file name: shown, readable.
for k in ctl1 nl tab del bs plain; do
	fx_eq "cat of key $k reads its body" "body of $k" "$(cat "$M/${KEYS[$k]}" 2>&1)"
done
fx_eq "ls -b escapes the newline name" 'new\nline' "$(ls -b "$M" | grep -x 'new\\nline')"

# A directory marker that has a body is a directory; the body is not shown.
fx_ok "the marker with a body is a directory" test -d "$M/mk"
fx_eq "... and lists nothing" "" "$(ls -A "$M/mk" 2>&1)"
fx_not "... and cat of it fails" cat "$M/mk"

# "same": an object and a prefix of the same name. The root was listed
# above, and a listing shows the directory.
fx_eq "'same' (object + prefix same/) is the directory the listing showed" directory \
	"$(stat -c %F "$M/same" 2>&1)"
fx_eq "... it lists same/inner" "inner" "$(ls -A "$M/same" 2>&1)"
fx_eq "... and its inner object reads" "body of same_d" "$(cat "$M/same/inner" 2>&1)"

# The long key: hidden one level down (a 250-byte segment is a fine name,
# but the walk ends in a 250-byte directory whose keys exceed 1,024 bytes).
if [ -n "${STORED[longkey]:-}" ]; then
	fx_run find "$M/lk"
	fx_log "find lk (key of ${#long_key} bytes stored): exit $FX_RC, $(printf '%s\n' "$FX_OUT" | wc -l) lines"
	fx_ok "find under the over-long key's prefix does not fail badly" test "$FX_RC" -le 1
else
	fx_log "radosgw refused the ${#long_key}-byte key; nothing to check"
fi

# Read everything there is to read.
fx_run find "$M"
fx_eq "find of the whole mount succeeds" 0 "$FX_RC"
fx_nomatch "find shows no '.' or '..' entry and no empty name" "$FX_OUT" '/\.\.?$|//'
fx_ok "cat of every file find reaches succeeds" \
	bash -c "find '$M' -type f -print0 | xargs -0 cat >/dev/null"
fx_ok "stat of every path find reaches succeeds" \
	bash -c "find '$M' -print0 | xargs -0 stat >/dev/null"
alive "after reading every key"

# A write through the mount with a hostile name is refused by the kernel
# before rustfx ("." and "..") or by rustfx; never creates a stray key.
fx_not "mkdir '$M/up/..' (exists: the root)" mkdir "$M/up/.."
fx_not "creating a 256-byte name fails" bash -c "printf x > '$M/$long_seg'"
fx_ok "creating a name with a newline works" bash -c "printf nl > '$M/made"$'\n'"here'"
fx_eq "... and stores exactly that key" "nl" \
	"$(timeout 60 python3 "$FX_S3_REQ_PY" -t 30 GET "$S3_ENDPOINT/$S3_BUCKET/made%0Ahere" 2>&1)"
alive "after the writes"

fx_match "the log warns of the object hidden behind the directory 'same'" "$(cat "$FX_LAST_LOG")" \
	"'same' is both an object and a directory"
# A hidden key is named in a warning: its newline must not forge a log line.
if grep -aq '^INJECTED' "$FX_LAST_LOG"; then
	fx_fail "a hidden key with a newline cannot forge a line of the log" \
		"$(grep -a -B1 '^INJECTED' "$FX_LAST_LOG" | head -n 4)"
else
	fx_pass "a hidden key with a newline cannot forge a line of the log"
fi
fx_umount "$M"
fx_eq "the daemon exited 0 after all of it" 0 "$FX_DAEMON_RC"
fx_nomatch "the daemon logged no crash" "$(cat "$FX_LAST_STDERR" "$FX_LAST_LOG")" \
	'AddressSanitizer|Segmentation|assert|Aborted'
fx_same_text "nothing appeared beside the cache directory" "$before_cache" \
	"$(tree "$FX_TMP/cachebox" | grep -v '^cache[/	]')"
fx_same_text "nothing appeared beside the mount point" "$before_mnt" "$(tree "$FX_TMP/mnt" | grep -v '^s3[/	]')"
fx_eq "nothing was created under the cache directory's parent by '..' names" "" \
	"$(find "$FX_TMP" -maxdepth 1 -name escaped 2>&1)"

# Once its attributes expire, 'same' is asked again: it must stay the
# directory (it used to turn into the object, then into ENOENT).
fx_mount "$S3_BUCKET" "$M" "attr_timeout=1" "$CACHE" || fx_finish
ls "$M" >/dev/null
sleep 2.5
fx_eq "after its attributes expired, 'same' is still the directory" directory \
	"$(stat -c %F "$M/same" 2>&1)"
sleep 2.5
fx_eq "... and still lists same/inner" "inner" "$(ls -A "$M/same" 2>&1)"
fx_umount "$M"

# ================================================================ file://

FX_S3_KIND="" FX_S3_OPTS="" # file:// from here on
fx_url() { printf 'file://%s\n' "$1"; }

ROOT=$FX_TMP/fileroot
OUTSIDE=$FX_TMP/outside
mkdir -p "$ROOT/sub" "$OUTSIDE"
printf 'secret outside\n' >"$OUTSIDE/secret"
for n in $'new\nline' $'tab\there' $'ctl\x01one' 'back\slash' plain; do
	printf 'body %s' "$n" >"$ROOT/$n"
done
mkfifo "$ROOT/fifo"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$ROOT/sock"
ln -s "$OUTSIDE" "$ROOT/out_dir"
ln -s "$OUTSIDE" "$ROOT/"$'link\nnl'
ln -s ../../outside "$ROOT/sub/up_dir"
before_out=$(tree "$OUTSIDE")
M=$FX_TMP/mnt/file
CACHE=$FX_TMP/cachebox/cache-file
before_cache=$(tree "$FX_TMP/cachebox")
fx_mount "$ROOT" "$M" "" "$CACHE" || fx_finish

fx_same_text "file://: ls shows the regular files, odd names included, and no FIFO, socket or symlink" \
	"$(printf '%s\n' back\\slash ctl$'\x01'one new$'\n'line plain sub tab$'\t'here | LC_ALL=C sort | cat -v)" \
	"$(ls -1A "$M" | LC_ALL=C sort | cat -v)"
for n in $'new\nline' $'tab\there' $'ctl\x01one' 'back\slash'; do
	fx_eq "file://: cat of a planted name $(printf '%q' "$n")" "body $n" "$(cat "$M/$n" 2>&1)"
done
fx_not "file://: opening the planted FIFO fails (and does not hang)" timeout 10 cat "$M/fifo"
fx_not "file://: a write through a planted dir symlink fails" bash -c "printf x > '$M/out_dir/new'"
fx_not "file://: mkdir through a planted dir symlink fails" mkdir "$M/out_dir/newdir"
fx_not "file://: a write through a nested ../.. symlink fails" bash -c "printf x > '$M/sub/up_dir/new'"
# Creating a file where a planted symlink is: rustfx may replace the name
# or refuse, but must never follow the link.
printf 'over\n' >"$M/out_dir" 2>/dev/null
fx_same_text "file://: nothing outside the root was created or changed" "$before_out" "$(tree "$OUTSIDE")"
fx_eq "file://: the file outside is unchanged" "secret outside" "$(cat "$OUTSIDE/secret")"
fx_ok "file://: find of the whole mount succeeds" timeout 30 find "$M"
fx_ok "file://: cat of every file find reaches succeeds" \
	timeout 30 bash -c "find '$M' -type f -print0 | xargs -0 cat >/dev/null"
alive "file://: after reading everything"
fx_umount "$M"
fx_eq "file://: the daemon exited 0" 0 "$FX_DAEMON_RC"
fx_same_text "file://: nothing appeared beside the cache directory" "$before_cache" \
	"$(tree "$FX_TMP/cachebox" | grep -v '^cache-file[/	]')"

fx_finish
