#!/usr/bin/env bash
#
# test_sync.sh - `rustfx sync` against real S3 servers: s3rver, then Ceph
# radosgw (tests/s3/s3rver.sh and rgw.sh, started here under the scratch
# directory and stopped on exit). For each server:
#
#   1. A tree (nested directories, an empty one, modes, a nanosecond mtime)
#      local -> s3: every file and directory marker is there, with s3fs's
#      x-amz-meta-mode/uid/gid/mtime; an unchanged rerun copies nothing.
#   2. A same-size change (mtime) and a resized file are copied, and only they.
#   3. --dry-run --delete changes nothing; --delete removes what SRC lacks.
#   4. --checksum finds a change size and mtime miss, in both directions
#      (a plain MD5 ETag against a hash of the local file).
#   5. --exclude leaves keys out; --json is one JSON object.
#   6. s3 -> local gives back the bytes, permission bits and mtimes; rerun: 0.
#   7. bucket -> bucket (another prefix of the same bucket: server-side
#      copies) and into another bucket (streamed); reruns copy nothing.
#   8. An unreadable local file fails alone: exit 1, its error line, and every
#      other file is in the bucket.
#   9. A sync killed with SIGKILL mid-way: the rerun copies exactly what the
#      bucket lacks (every finished put compares equal) and completes it.
# s3rver only: 10,000 small files local -> s3 (+ an unchanged rerun that
# copies 0), and a SIGTERM that
# stops the run cleanly (exit 1, "interrupted") before a rerun finishes it.
# rgw only: a multipart object keeps its "-N" ETag through a server-side copy
# and --checksum compares two multipart objects by hashing both.
#
# Everything listens on 127.0.0.1; every wait is bounded. Prints
# "N passed, N failed" and exits non-zero on any failure.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own servers; lib.sh reads it in fx_setup
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup

# s3rver keeps three files an object: tens of thousands here, which a disk
# mounted with discard takes a minute to delete. In RAM when /dev/shm is there.
S3RVER_DIR=$(mktemp -d /dev/shm/rustfx-sync.XXXXXX 2>/dev/null) || S3RVER_DIR=$FX_TMP/s3rver
RGW_DIR=$FX_TMP/rgw

# shellcheck disable=SC2317 # run by the EXIT trap
sync_cleanup() {
	local rc=$?
	set +u
	# The servers' data goes with their directories (rgw's is in RAM): no
	# objects to delete one by one.
	FX_S3_PREFIX=""
	"$HERE/s3rver.sh" stop "$S3RVER_DIR" >/dev/null 2>&1
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	case $S3RVER_DIR in /dev/shm/rustfx-sync.*) rm -rf "$S3RVER_DIR" ;; esac
	(exit "$rc")
	fx_cleanup
}
trap sync_cleanup EXIT

# shellcheck disable=SC2317 # called through fx_status and fx_run
rfx() { timeout 300 "$RUSTFX_BIN" "$@"; }

# summary: the summary line of the last run, up to the byte count.
summary() { printf '%s\n' "$FX_OUT" | grep -E '^copied [0-9]+, ' | tail -n 1 | sed 's/, [0-9]* bytes.*//'; }
# copied: its first number.
copied() { summary | sed -n 's/^copied \([0-9]*\),.*/\1/p'; }

# attrs DIR: "PATH MODE MTIME SIZE" of every file below DIR, "PATH MODE dir"
# of every directory (sync creates a missing directory with its mtime but
# does not compare directories, whose mtimes move with their entries).
attrs() {
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%P %m dir\n' \) -o -printf '%P %m %T@ %s\n' | sort)
}

# count PREFIX: objects below PREFIX/ in the bucket.
count() { fx_s3_list "$1/" | wc -l; }

# head_meta KEY: x-amz-meta-NAME=VALUE lines of a HEAD of KEY.
head_meta() {
	fx_s3req HEAD "$1" -D "$FX_TMP/head.hdr" >/dev/null || return
	tr -d '\r' <"$FX_TMP/head.hdr" | sed -n 's/^[xX]-[aA][mM][zZ]-[mM][eE][tT][aA]-\([^:]*\): *\(.*\)$/\1=\2/p' |
		tr '[:upper:]' '[:lower:]' | sort
}
etag_of() {
	fx_s3req HEAD "$1" -D "$FX_TMP/head.hdr" >/dev/null || return
	tr -d '\r' <"$FX_TMP/head.hdr" | sed -n 's/^[eE][tT][aA][gG]: *//p'
}

# use_server s3rver|rgw DIR: start it and point rustfx at it (RUSTFX_S3_*).
use_server() {
	local kind=$1 dir=$2
	FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/$kind.sh" start "$dir" >"$FX_TMP/$kind.start" 2>&1 ||
		fx_abort "start $kind (tests/s3/$kind.sh start)" "$(tail -n 30 "$FX_TMP/$kind.start")"
	FX_S3_ENV=$dir/env
	unset FX_S3_DEFECTS # fx_s3_setup sets the list of this server
	fx_s3_setup
	export RUSTFX_S3_ENDPOINT=$S3_ENDPOINT RUSTFX_S3_REGION=$S3_REGION RUSTFX_S3_PATH_STYLE=true
}

stop_server() {
	"$HERE/$1.sh" stop "$2" >/dev/null 2>&1
	FX_S3_PREFIX=""
}

# The tree of checks 1-8: 9 files (one named with a space and UTF-8; on
# rgw a '+' too: s3rver ignores encoding-type=url, and the S3 backend
# refuses a listing where that makes a '+' ambiguous) and 4 directories.
make_tree() {
	local t=$1 i
	mkdir -p "$t/docs/deep" "$t/empty" "$t/logs"
	for i in 1 2 3 4 5; do printf 'document %s\n' "$i" >"$t/docs/d$i.txt"; done
	printf 'deep\n' >"$t/docs/deep/x.bin"
	printf 'log one\n' >"$t/logs/a.log"
	printf 'odd name\n' >"$t/logs/with space ü$([ "$S3_KIND" = rgw ] && echo '+plus').txt"
	head -c 200000 /dev/urandom >"$t/blob"
	chmod 600 "$t/docs/d1.txt"
	chmod 751 "$t/docs/deep"
	touch -d '2001-02-03 04:05:06.123456789' "$t/docs/d2.txt"
}
TREE_N=13

# kill_midway KIND URL DIR TOTAL SIGNAL: start a sync of DIR (TOTAL flat
# files) to URL, send SIGNAL once 200 objects are in the bucket; its exit
# status goes to MID_RC, its output to MID_OUT. Fails when it ends first.
kill_midway() {
	local kind=$1 url=$2 dir=$3 total=$4 sig=$5 key=${2#s3://"$S3_BUCKET"/} pid n=0 i
	"$RUSTFX_BIN" sync --concurrency 2 "$dir" "$url" >"$FX_TMP/mid.out" 2>&1 &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		n=$(count "$key")
		[ "$n" -ge 200 ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ "$n" -ge 200 ] && kill -0 "$pid" 2>/dev/null; then
		kill "-$sig" "$pid"
		fx_pass "$kind: sync stopped by SIG$sig with $n of $total objects in the bucket"
	else
		fx_fail "$kind: sync stopped by SIG$sig mid-way" "$n objects when it ended or 30 s passed"
	fi
	wait "$pid" 2>/dev/null # no "Killed" line from the shell
	MID_RC=$?
	MID_OUT=$(cat "$FX_TMP/mid.out")
}

scenarios() {
	local kind=$1 p=$FX_S3_PREFIX url n k
	local src=$FX_TMP/$kind/src back=$FX_TMP/$kind/back
	url=s3://$S3_BUCKET/$p
	make_tree "$src"

	# ---------------------------------------------------- 1. local -> s3
	fx_status "$kind: sync local -> s3 exits 0" 0 rfx sync "$src" "$url/t"
	fx_eq "$kind: every file and directory is copied" "copied $TREE_N, skipped 0, deleted 0, failed 0" "$(summary)"
	fx_eq "$kind: the bucket holds 9 objects and 4 markers" "$TREE_N" "$(count "$p/t")"
	fx_match "$kind: the empty directory is a marker object" "$(fx_s3_list "$p/t/" | cut -f1)" "^$p/t/empty/\$"
	fx_same_text "$kind: s3fs metadata of a file (mode, uid, gid, mtime in ns)" \
		"gid=$(id -g)
mode=33188
mtime=981173106.123456789
uid=$(id -u)" "$(head_meta "$p/t/docs/d2.txt")"
	fx_match "$kind: a directory marker has the directory's mode" "$(head_meta "$p/t/docs/deep/")" '^mode=16873$'
	fx_match "$kind: a 0600 file keeps its mode" "$(head_meta "$p/t/docs/d1.txt")" '^mode=33152$'
	fx_status "$kind: unchanged rerun exits 0" 0 rfx sync "$src" "$url/t"
	fx_eq "$kind: an unchanged rerun copies nothing" "copied 0, skipped $TREE_N, deleted 0, failed 0" "$(summary)"

	# --------------------------------------------------------- 2. changes
	printf 'document X\n' >"$src/docs/d3.txt"
	printf 'a longer document 4\n' >"$src/docs/d4.txt"
	fx_status "$kind: rerun after two changes exits 0" 0 rfx sync -v "$src" "$url/t"
	fx_eq "$kind: only the changed files are copied" "copied 2, skipped $((TREE_N - 2)), deleted 0, failed 0" "$(summary)"
	fx_match "$kind: the same-size change is found by its mtime" "$FX_OUT" '^copied docs/d3.txt \(mtime\)$'
	fx_match "$kind: the resized file is found by its size" "$FX_OUT" '^copied docs/d4.txt \(size\)$'
	fx_eq "$kind: the bucket has the new bytes" "a longer document 4" "$(fx_s3req GET "$p/t/docs/d4.txt")"

	# ---------------------------------------------- 3. --dry-run, --delete
	rm -r "$src/docs/d5.txt" "$src/empty"
	fx_status "$kind: --dry-run --delete exits 0" 0 rfx sync --dry-run --delete "$src" "$url/t"
	fx_match "$kind: --dry-run would delete the removed file" "$FX_OUT" '^would delete docs/d5.txt$'
	fx_match "$kind: --dry-run would delete the removed directory" "$FX_OUT" '^would delete empty/$'
	fx_eq "$kind: --dry-run deleted nothing" "$TREE_N" "$(count "$p/t")"
	fx_status "$kind: --delete exits 0" 0 rfx sync --delete "$src" "$url/t"
	fx_eq "$kind: --delete deletes both" "copied 0, skipped $((TREE_N - 2)), deleted 2, failed 0" "$(summary)"
	fx_eq "$kind: the bucket holds what SRC holds" "$((TREE_N - 2))" "$(count "$p/t")"
	n=$((TREE_N - 2))

	# ------------------------------------------------------- 4. --checksum
	touch -r "$src/docs/d1.txt" "$FX_TMP/ref"
	printf 'document Y\n' >"$src/docs/d1.txt"
	touch -r "$FX_TMP/ref" "$src/docs/d1.txt"
	fx_status "$kind: rerun after a same-size, same-mtime change exits 0" 0 rfx sync "$src" "$url/t"
	fx_eq "$kind: size and mtime miss it" 0 "$(copied)"
	fx_status "$kind: --checksum local -> s3 exits 0" 0 rfx sync --checksum -v "$src" "$url/t"
	fx_match "$kind: --checksum copies it" "$FX_OUT" '^copied docs/d1.txt \(checksum\)$'
	fx_eq "$kind: --checksum copies only it" 1 "$(copied)"
	fx_eq "$kind: the bucket has the new bytes" "document Y" "$(fx_s3req GET "$p/t/docs/d1.txt")"

	# ------------------------------------------------- 5. --exclude, --json
	fx_status "$kind: sync --exclude exits 0" 0 rfx sync --exclude '*.log' --exclude 'docs/deep/*' "$src" "$url/x"
	fx_eq "$kind: --exclude leaves keys out" 0 "$(fx_s3_list "$p/x/" | cut -f1 | grep -c -e '\.log$' -e deep)"
	fx_eq "$kind: ... and copies the rest" "$((n - 3))" "$(count "$p/x")"
	fx_status "$kind: sync --json exits 0" 0 rfx sync --json "$src" "$url/t"
	fx_ok "$kind: --json summary" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert (d["copied"], d["skipped"], d["failed"]) == (0, int(sys.argv[2]), 0), d
' "$FX_OUT" "$n"

	# ------------------------------------------------------ 6. s3 -> local
	fx_status "$kind: sync s3 -> local exits 0" 0 rfx sync "$url/t" "$back"
	fx_eq "$kind: s3 -> local copies everything" "copied $n, skipped 0, deleted 0, failed 0" "$(summary)"
	fx_ok "$kind: the bytes come back (diff -r)" diff -r "$src" "$back"
	fx_same_text "$kind: modes, mtimes and sizes come back" "$(attrs "$src")" "$(attrs "$back")"
	fx_status "$kind: rerun s3 -> local exits 0" 0 rfx sync "$url/t" "$back"
	fx_eq "$kind: rerun s3 -> local copies nothing" 0 "$(copied)"
	touch -r "$back/docs/d3.txt" "$FX_TMP/ref"
	printf 'document W\n' >"$back/docs/d3.txt"
	touch -r "$FX_TMP/ref" "$back/docs/d3.txt"
	fx_status "$kind: --checksum s3 -> local exits 0" 0 rfx sync --checksum "$url/t" "$back"
	fx_eq "$kind: --checksum s3 -> local copies the changed local file back" 1 "$(copied)"
	fx_same_file "$kind: ... with the bucket's bytes" "$src/docs/d3.txt" "$back/docs/d3.txt"

	# --------------------------------------------------- 7. bucket -> bucket
	fx_status "$kind: sync bucket -> bucket (same bucket) exits 0" 0 rfx sync "$url/t" "$url/copy"
	fx_eq "$kind: bucket -> bucket copies everything" "copied $n, skipped 0, deleted 0, failed 0" "$(summary)"
	fx_same_text "$kind: the copies have the metadata" "$(head_meta "$p/t/docs/d2.txt")" \
		"$(head_meta "$p/copy/docs/d2.txt")"
	fx_status "$kind: rerun bucket -> bucket exits 0" 0 rfx sync "$url/t" "$url/copy"
	fx_eq "$kind: rerun bucket -> bucket copies nothing" 0 "$(copied)"
	fx_status "$kind: sync of the copy -> local exits 0" 0 rfx sync "$url/copy" "$back-copy"
	fx_ok "$kind: the copy holds the same bytes" diff -r "$src" "$back-copy"
	fx_same_text "$kind: ... modes and mtimes" "$(attrs "$src")" "$(attrs "$back-copy")"
	fx_status "$kind: sync test prefix -> s3 overlap refused" 2 rfx sync "$url/t" "$url/t/sub"
	local other=rustfx-sync-other
	if timeout 60 python3 "$FX_S3_REQ_PY" -t 30 PUT "$S3_ENDPOINT/$other" -o /dev/null 2>"$FX_TMP/mkbucket.err"; then
		fx_status "$kind: sync into another bucket exits 0" 0 rfx sync "$url/t" "s3://$other/$p"
		fx_eq "$kind: another bucket gets everything" "copied $n, skipped 0, deleted 0, failed 0" "$(summary)"
		fx_status "$kind: rerun into another bucket exits 0" 0 rfx sync "$url/t" "s3://$other/$p"
		fx_eq "$kind: rerun into another bucket copies nothing" 0 "$(copied)"
	else
		fx_fail "$kind: create a second bucket" "$(cat "$FX_TMP/mkbucket.err")"
	fi

	# -------------------------------------------------- 8. a failing file
	local u=$FX_TMP/$kind/unreadable as=()
	mkdir -p "$u"
	for k in 1 2 3 4 5 6; do printf 'file %s\n' "$k" >"$u/f$k"; done
	chmod 000 "$u/f4"
	if [ "$(id -u)" = 0 ]; then
		cp "$RUSTFX_BIN" "$FX_TMP/rustfx-nobody"
		chmod 755 "$FX_TMP" "$FX_TMP/$kind" "$u" "$FX_TMP/rustfx-nobody"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups "$FX_TMP/rustfx-nobody")
	else
		as=("$RUSTFX_BIN")
	fi
	fx_status "$kind: sync with an unreadable file exits 1" 1 timeout 120 "${as[@]}" sync "$u" "$url/u"
	fx_eq "$kind: one failed, the others copied" "copied 5, skipped 0, deleted 0, failed 1" "$(summary)"
	fx_match "$kind: the error line names the file" "$FX_ERR" '^error: cannot read f4 from .*Permission denied'
	fx_match "$kind: ... with a hint" "$FX_ERR" '^hint: '
	fx_eq "$kind: the other five are in the bucket" 5 "$(count "$p/u")"
	chmod 644 "$u/f4"

	# ------------------------------------------------- 9. killed mid-way
	local flat=$FX_TMP/$kind/flat total=1000 have cut
	mkdir -p "$flat"
	for ((k = 0; k < total; k++)); do printf 'flat file %d\n' "$k"; done |
		split -l 1 -a 4 -d - "$flat/f"
	kill_midway "$kind" "$url/killed" "$flat" "$total" KILL
	fx_eq "$kind: the killed sync died by SIGKILL" 137 "$MID_RC"
	sleep 1 # a put the server had fully received may still land
	# Objects whose size is the file's are done. s3rver (not S3, not rgw)
	# stores an empty object for a PUT whose connection was cut mid-body:
	# those differ in size, and the rerun must copy them again.
	fx_s3_list "$p/killed/" | awk -F'\t' '{ sub(/.*\//, "", $1); print $1, $2 }' | sort >"$FX_TMP/listed"
	(cd "$flat" && stat -c '%n %s' -- *) | sort >"$FX_TMP/local"
	have=$(comm -12 "$FX_TMP/listed" "$FX_TMP/local" | wc -l)
	cut=$(($(wc -l <"$FX_TMP/listed") - have))
	fx_log "$kind: after SIGKILL: $have objects done, $cut cut short by the server"
	[ "$kind" = s3rver ] || fx_eq "$kind: no object is left cut short (PUTs are atomic)" 0 "$cut"
	fx_status "$kind: rerun after SIGKILL exits 0" 0 rfx sync "$flat" "$url/killed"
	fx_eq "$kind: the rerun copies exactly what was not done ($((total - have)))" \
		"copied $((total - have)), skipped $have, deleted 0, failed 0" "$(summary)"
	fx_eq "$kind: the bucket is complete" "$total" "$(count "$p/killed")"
	fx_status "$kind: another rerun exits 0" 0 rfx sync "$flat" "$url/killed"
	fx_eq "$kind: another rerun copies nothing" 0 "$(copied)"
}

# =================================================================== s3rver

use_server s3rver "$S3RVER_DIR"
fx_log "s3rver up after ${SECONDS}s"
scenarios s3rver
fx_log "s3rver scenarios done after ${SECONDS}s"

# 10,000 small files in 10 directories.
BIG=$FX_TMP/big
mkdir -p "$BIG"
for d in 0 1 2 3 4 5 6 7 8 9; do
	mkdir -p "$BIG/d$d"
	for ((i = 0; i < 1000; i++)); do printf 'small file %d %d\n' "$d" "$i"; done |
		split -l 1 -a 3 -d - "$BIG/d$d/f"
done
fx_eq "10,000 small files made" 10000 "$(find "$BIG" -type f | wc -l)"
URL=s3://$S3_BUCKET/$FX_S3_PREFIX/big
fx_status "s3rver: sync of 10,000 files exits 0" 0 rfx sync "$BIG" "$URL"
fx_eq "s3rver: 10,000 files and 10 markers copied" "copied 10010, skipped 0, deleted 0, failed 0" "$(summary)"
fx_log "s3rver: $(printf '%s\n' "$FX_OUT" | tail -n 1)"
fx_eq "s3rver: the bucket holds them" 10010 "$(count "$FX_S3_PREFIX/big")"
fx_status "s3rver: unchanged rerun of 10,000 exits 0" 0 rfx sync "$BIG" "$URL"
fx_eq "s3rver: the unchanged rerun copies 0" "copied 0, skipped 10010, deleted 0, failed 0" "$(summary)"
fx_log "s3rver: $(printf '%s\n' "$FX_OUT" | tail -n 1)"

# SIGTERM: in-flight files finish, the summary says interrupted, exit 1.
kill_midway s3rver "$URL-term" "$BIG/d3" 1000 TERM
fx_eq "s3rver: the stopped sync exits 1" 1 "$MID_RC"
FX_OUT=$MID_OUT
fx_match "s3rver: its summary says it was interrupted" "$MID_OUT" 'interrupted: run sync again'
done_before=$(copied)
fx_status "s3rver: rerun after SIGTERM exits 0" 0 rfx sync "$BIG/d3" "$URL-term"
fx_eq "s3rver: it copies only the rest" "copied $((1000 - done_before)), skipped $done_before" \
	"$(summary | cut -d, -f1-2)"
stop_server s3rver "$S3RVER_DIR"
fx_log "s3rver done after ${SECONDS}s"

# ====================================================================== rgw

use_server rgw "$RGW_DIR"
fx_log "rgw up after ${SECONDS}s"
scenarios rgw
fx_log "rgw scenarios done after ${SECONDS}s"

# A multipart object (5 MiB parts) keeps its "-N" ETag through a server-side
# copy (a streamed copy would be uploaded whole at the default 64M threshold).
MP=$FX_TMP/mp
mkdir -p "$MP"
head -c 7000000 /dev/urandom >"$MP/big.bin"
URL=s3://$S3_BUCKET/$FX_S3_PREFIX
fx_status "rgw: sync of a 7 MB file in 5 MiB parts exits 0" 0 \
	env RUSTFX_S3_MULTIPART_THRESHOLD=5M RUSTFX_S3_PART_SIZE=5M timeout 120 "$RUSTFX_BIN" sync "$MP" "$URL/mp"
etag=$(etag_of "$FX_S3_PREFIX/mp/big.bin")
fx_match "rgw: it has a multipart ETag" "$etag" '-2"$'
fx_status "rgw: sync bucket -> bucket of it exits 0" 0 rfx sync "$URL/mp" "$URL/mp-copy"
fx_eq "rgw: the server-side copy keeps the ETag" "$etag" "$(etag_of "$FX_S3_PREFIX/mp-copy/big.bin")"
fx_status "rgw: --checksum of two multipart objects exits 0" 0 rfx sync --checksum "$URL/mp" "$URL/mp-copy"
fx_eq "rgw: hashing both finds them equal" "copied 0, skipped 1, deleted 0, failed 0" "$(summary)"
fx_status "rgw: --checksum multipart -> local exits 0" 0 rfx sync --checksum "$URL/mp-copy" "$FX_TMP/mp-back"
fx_same_file "rgw: the bytes come back" "$MP/big.bin" "$FX_TMP/mp-back/big.bin"
fx_status "rgw: --checksum rerun exits 0" 0 rfx sync --checksum "$URL/mp-copy" "$FX_TMP/mp-back"
fx_eq "rgw: --checksum rerun copies nothing" 0 "$(copied)"
stop_server rgw "$RGW_DIR"
fx_log "rgw stopped after ${SECONDS}s"

fx_finish
