#!/usr/bin/env bash
#
# test_sync_local.sh - `rustfx sync` between local directories and file://
# buckets (no server, no FUSE; a few seconds):
#
#   1. --help, and bad input (no arguments, unknown option, bad
#      --concurrency, unsupported URL, a relative file:// path, a missing SRC,
#      a SRC that is a file, overlapping SRC and DST) exits 2 with error:/hint:.
#   2. A tree is copied with its bytes, permission bits and mtimes (files and
#      directories, nanoseconds); a second run copies nothing; the summary line
#      and --json agree; nothing is printed on stderr without a terminal.
#   3. A file changed with the same size (mtime) and one with another size
#      are copied again, and only they; -v names them with the reason.
#   4. --dry-run changes nothing and prints what it would do; --delete removes
#      files and empty directories SRC lacks and keeps what --exclude leaves out.
#   5. --include/--exclude: the first rule that matches decides.
#   6. --checksum finds a change that size and mtime miss.
#   7. A plain directory -> file:// bucket -> plain directory: the bucket
#      holds mode/uid/gid/mtime as user.rustfx.* xattrs, the round trip keeps
#      mode and mtime, and each rerun copies nothing.
#   8. An unreadable file fails alone (exit 1, its error line, the others
#      copied); an unreadable directory in SRC turns --delete off.
#   9. On a terminal (script(1)) a progress bar is drawn on stderr.
#
# Prints "N passed, N failed"; never skips (no FUSE needed), except the
# checks that need another user (setpriv as root) or script(1) when absent.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup

# shellcheck disable=SC2317 # called through fx_status and fx_run
rfx() { timeout 120 "$RUSTFX_BIN" "$@"; }

# fx_diag DESC: the last fx_run printed an error: and a hint: line.
fx_diag() {
	if printf '%s\n' "$FX_ERR" | grep -q '^error:' && printf '%s\n' "$FX_ERR" | grep -q '^hint:'; then
		fx_pass "$1: error: and hint: lines on stderr"
	else
		fx_fail "$1: error: and hint: lines on stderr" "$(fx_ctx)"
	fi
}

# summary TEXT: the summary line of the last run, up to the byte count.
summary() { printf '%s\n' "$FX_OUT" | grep -E '^copied [0-9]+, ' | tail -n 1 | sed 's/, [0-9]* bytes.*//'; }

# attrs DIR: "PATH MODE MTIME_NS SIZE" of everything below DIR, sorted.
attrs() { (cd "$1" && find . -mindepth 1 -printf '%P %m %T@ %s\n' | sort); }

SRC=$FX_TMP/src
DST=$FX_TMP/dst
mkdir -p "$SRC/docs/deep" "$SRC/empty" "$SRC/logs"
for i in 1 2 3 4 5; do printf 'document %s\n' "$i" >"$SRC/docs/d$i.txt"; done
printf 'deep\n' >"$SRC/docs/deep/x.bin"
printf 'log one\n' >"$SRC/logs/a.log"
printf 'log two\n' >"$SRC/logs/b.log"
head -c 300000 /dev/urandom >"$SRC/blob"
chmod 600 "$SRC/docs/d1.txt"
chmod 751 "$SRC/docs/deep"
touch -d '2001-02-03 04:05:06.123456789' "$SRC/docs/d2.txt"
touch -d '1999-12-31 23:59:59' "$SRC/empty"
NFILES=9 # 8 files + blob
NDIRS=4  # docs docs/deep empty logs

# ------------------------------------------------------------ 1. bad input

fx_status "sync --help exits 0" 0 rfx sync --help
fx_match "sync --help prints the usage" "$FX_OUT" '^usage: rustfx sync \[OPTIONS\] SRC DST'
for opt in --delete --dry-run --checksum --exclude --include --concurrency --json; do
	fx_match "sync --help documents $opt" "$FX_OUT" "^ +(-n, )?$opt"
done

fx_status "sync without arguments exits 2" 2 rfx sync
fx_diag "sync without arguments"
fx_status "sync with an unknown option exits 2" 2 rfx sync --frobnicate "$SRC" "$DST"
fx_diag "unknown option"
fx_status "sync --concurrency 0 exits 2" 2 rfx sync --concurrency 0 "$SRC" "$DST"
fx_diag "bad --concurrency"
fx_status "sync to ftp://x exits 2" 2 rfx sync "$SRC" ftp://x
fx_diag "unsupported URL"
fx_status "sync from file://relative exits 2" 2 rfx sync file://src "$DST"
fx_diag "relative file:// URL"
fx_status "sync from a missing SRC exits 2" 2 rfx sync "$FX_TMP/absent" "$DST"
fx_diag "missing SRC"
fx_status "sync from a SRC that is a file exits 2" 2 rfx sync "$SRC/blob" "$DST"
fx_diag "SRC is a file"
fx_status "sync into a DST inside SRC exits 2" 2 rfx sync "$SRC" "$SRC/docs/copy"
fx_diag "DST inside SRC"
fx_status "sync of file://SRC into SRC/.. exits 2" 2 rfx sync "file://$SRC" "$FX_TMP"
fx_ok "nothing was created by the refused runs" test ! -e "$DST" -a ! -e "$SRC/docs/copy"

# ------------------------------------------------------------ 2. a tree

fx_status "first sync exits 0" 0 rfx sync "$SRC" "$DST"
fx_eq "first sync copies every file and directory" \
	"copied $((NFILES + NDIRS)), skipped 0, deleted 0, failed 0" "$(summary)"
fx_eq "nothing on stderr when it is not a terminal" "" "$FX_ERR"
fx_ok "the bytes are the same (diff -r)" diff -r "$SRC" "$DST"
fx_same_text "modes, mtimes (ns) and sizes are the same" "$(attrs "$SRC")" "$(attrs "$DST")"
fx_status "second sync exits 0" 0 rfx sync "$SRC" "$DST"
fx_eq "second sync copies nothing" "copied 0, skipped $((NFILES + NDIRS)), deleted 0, failed 0" \
	"$(summary)"
fx_match "the summary names bytes and seconds" "$FX_OUT" ', 0 bytes, [0-9.]+ s$'
fx_status "sync --json exits 0" 0 rfx sync --json "$SRC" "$DST"
fx_ok "--json: one JSON object with the counts" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["copied"] == 0 and d["skipped"] == int(sys.argv[2]) and d["failed"] == 0, d
assert d["deleted"] == 0 and d["bytes"] == 0 and d["seconds"] >= 0 and d["dry_run"] is False, d
' "$FX_OUT" "$((NFILES + NDIRS))"
fx_status "rustfx --json sync (global flag) exits 0" 0 rfx --json sync "$SRC" "$DST"
fx_ok "the global --json prints JSON too" python3 -c 'import json, sys; json.loads(sys.argv[1])' "$FX_OUT"

# ------------------------------------------------------------ 3. changes

printf 'document X\n' >"$SRC/docs/d3.txt" # same size, new mtime
printf 'longer document 4\n' >"$SRC/docs/d4.txt"
fx_status "sync -v after two changes exits 0" 0 rfx sync -v "$SRC" "$DST"
fx_eq "only the two changed files are copied" \
	"copied 2, skipped $((NFILES + NDIRS - 2)), deleted 0, failed 0" "$(summary)"
fx_match "-v names the same-size change with its reason" "$FX_OUT" '^copied docs/d3.txt \(mtime\)$'
fx_match "-v names the resized file with its reason" "$FX_OUT" '^copied docs/d4.txt \(size\)$'
fx_ok "DST has the new bytes" diff -r "$SRC" "$DST"

# ---------------------------------------------- 4. --dry-run and --delete

printf 'new\n' >"$SRC/docs/new.txt"
rm "$SRC/docs/d5.txt"
mkdir -p "$DST/stale/deeper"
printf 'stale\n' >"$DST/stale/deeper/s.txt"
printf 'kept\n' >"$DST/keep.tmp"
before=$(attrs "$DST")
fx_status "sync --dry-run --delete exits 0" 0 rfx sync --dry-run --delete --exclude '*.tmp' "$SRC" "$DST"
fx_match "--dry-run says it would copy the new file" "$FX_OUT" '^would copy docs/new.txt \(new\)$'
fx_match "--dry-run says it would delete the removed file" "$FX_OUT" '^would delete docs/d5.txt$'
fx_match "--dry-run says it would delete the stale directory" "$FX_OUT" '^would delete stale/$'
fx_nomatch "--dry-run would not delete what --exclude leaves out" "$FX_OUT" 'keep.tmp'
fx_eq "--dry-run summary" "copied 1, skipped $((NFILES + NDIRS - 1)), deleted 4, failed 0" "$(summary)"
fx_match "--dry-run says nothing was changed" "$FX_OUT" 'dry run: nothing was changed'
fx_same_text "--dry-run changed nothing at DST" "$before" "$(attrs "$DST")"

fx_status "sync --delete exits 0" 0 rfx sync --delete --exclude '*.tmp' "$SRC" "$DST"
fx_eq "--delete copies one and deletes four (file, dirs, stale file)" \
	"copied 1, skipped $((NFILES + NDIRS - 1)), deleted 4, failed 0" "$(summary)"
fx_ok "the removed file and the stale tree are gone" test ! -e "$DST/docs/d5.txt" -a ! -e "$DST/stale"
fx_ok "what --exclude left out is still there" test -f "$DST/keep.tmp"
rm "$DST/keep.tmp"
fx_ok "DST is SRC again" diff -r "$SRC" "$DST"

# -------------------------------------------- 5. --include / --exclude

F=$FX_TMP/filtered
fx_status "sync with --include before --exclude exits 0" 0 \
	rfx sync --include 'logs/b*' --exclude '*.log' --exclude 'docs/*' "$SRC" "$F"
fx_ok "the --include that matched first wins over a later --exclude" test -f "$F/logs/b.log"
fx_ok "--exclude '*.log' left out a.log" test ! -e "$F/logs/a.log"
fx_ok "--exclude 'docs/*' left out docs/ and all below it" test ! -e "$F/docs"
fx_ok "keys no rule matches are copied" test -f "$F/blob" -a -d "$F/empty"
rm -rf "$F"
fx_status "sync with --exclude before --include exits 0" 0 \
	rfx sync --exclude '*.log' --include 'logs/b*' "$SRC" "$F"
fx_ok "the --exclude that matched first wins over a later --include" test ! -e "$F/logs/b.log"

# ------------------------------------------------------------ 6. --checksum

cp -p "$SRC/docs/d1.txt" "$FX_TMP/d1.keep"
printf 'document Z\n' >"$DST/docs/d1.txt" # same size
touch -r "$SRC/docs/d1.txt" "$DST/docs/d1.txt"
fx_status "sync with a same-size, same-mtime change exits 0" 0 rfx sync "$SRC" "$DST"
fx_eq "size and mtime do not see it" "copied 0" "$(summary | cut -d, -f1)"
fx_status "sync --checksum exits 0" 0 rfx sync --checksum -v "$SRC" "$DST"
fx_match "--checksum copies it" "$FX_OUT" '^copied docs/d1.txt \(checksum\)$'
fx_eq "--checksum copies only it" "copied 1" "$(summary | cut -d, -f1)"
fx_same_file "DST has SRC's bytes again" "$SRC/docs/d1.txt" "$DST/docs/d1.txt"

# --------------------------------------- 7. plain -> file:// -> plain

B=$FX_TMP/bucket
fx_status "sync into file://BUCKET exits 0" 0 rfx sync "$SRC" "file://$B"
fx_ok "the bytes are there" diff -r "$SRC" "$B"
meta=$(getfattr -d -m user.rustfx "$B/docs/d2.txt" 2>&1)
fx_match "file:// keeps the mtime as metadata (ns)" "$meta" '^user.rustfx.mtime="981173106.123456789"$'
fx_match "file:// keeps the mode as metadata" "$meta" "^user.rustfx.mode=\"$(stat -c %f "$SRC/docs/d2.txt" |
	python3 -c 'import sys; print(int(sys.stdin.read(), 16))')\"$"
fx_match "file:// keeps uid and gid" "$meta" "^user.rustfx.uid=\"$(id -u)\"$"
dmeta=$(getfattr -d -m user.rustfx "$B/docs/deep" 2>&1)
fx_match "a directory's mode is kept too" "$dmeta" '^user.rustfx.mode="16873"$' # 040751
fx_status "second sync into file://BUCKET exits 0" 0 rfx sync "$SRC" "file://$B"
fx_eq "it copies nothing" "copied 0" "$(summary | cut -d, -f1)"
R=$FX_TMP/back
fx_status "sync file://BUCKET into a plain directory exits 0" 0 rfx sync "file://$B" "$R"
fx_same_text "the round trip keeps modes, mtimes and sizes" "$(attrs "$SRC")" "$(attrs "$R")"
fx_eq "a plain DST holds no rustfx xattrs" "" "$(getfattr -d -m user.rustfx "$R/docs/d2.txt" 2>/dev/null)"
fx_status "second sync from file://BUCKET exits 0" 0 rfx sync "file://$B" "$R"
fx_eq "it copies nothing" "copied 0" "$(summary | cut -d, -f1)"
fx_status "--concurrency 1 works" 0 rfx sync --concurrency 1 "file://$B" "$R"

# --------------------------------------------- 8. unreadable file and dir

U=$FX_TMP/u
mkdir -p "$U/src/sub" "$U/dst"
for i in 1 2 3 4; do printf 'file %s\n' "$i" >"$U/src/f$i"; done
printf 'x\n' >"$U/src/sub/in"
printf 'gone\n' >"$U/dst/extra"
chmod 000 "$U/src/f2"
AS=()
if [ "$(id -u)" = 0 ]; then
	# root reads anything: run as nobody, from a copy of the binary it can reach.
	if command -v setpriv >/dev/null; then
		cp "$RUSTFX_BIN" "$FX_TMP/rustfx-nobody"
		chmod 755 "$FX_TMP" "$FX_TMP/rustfx-nobody"
		chown -R 65534 "$U/dst"
		chmod -R a+rX "$U/src/sub" "$U/src/f1" "$U/src/f3" "$U/src/f4"
		chmod 755 "$U" "$U/src"
		AS=(setpriv --reuid=65534 --regid=65534 --clear-groups "$FX_TMP/rustfx-nobody")
	fi
else
	AS=("$RUSTFX_BIN")
fi
if [ ${#AS[@]} -eq 0 ]; then
	fx_skip "an unreadable file fails alone" "running as root without setpriv(1)"
else
	fx_status "sync with an unreadable file exits 1" 1 timeout 60 "${AS[@]}" sync "$U/src" "$U/dst"
	fx_eq "the summary counts one failure" "copied 5, skipped 0, deleted 0, failed 1" "$(summary)"
	fx_diag "unreadable file"
	fx_match "the error names the file" "$FX_ERR" '^error: cannot read f2 from .*Permission denied'
	fx_ok "the other files are copied" test -f "$U/dst/f1" -a -f "$U/dst/f3" -a -f "$U/dst/f4" -a -f "$U/dst/sub/in"
	fx_ok "the unreadable one is not" test ! -e "$U/dst/f2"
	chmod 000 "$U/src/sub"
	fx_status "sync --delete with an unreadable directory exits 1" 1 \
		timeout 60 "${AS[@]}" sync --delete "$U/src" "$U/dst"
	fx_match "it names the directory" "$FX_ERR" '^error: cannot list sub/ in '
	fx_match "it says it deletes nothing" "$FX_ERR" 'not deleting anything'
	fx_ok "nothing was deleted" test -f "$U/dst/extra" -a -f "$U/dst/sub/in"
	chmod 755 "$U/src/sub"
	# The same tree as a file:// bucket: one unreadable file is listed (by
	# its stat) and fails alone, instead of failing the whole listing.
	mkdir -p "$U/dst2"
	chown 65534 "$U/dst2"
	fx_status "sync from file:// with an unreadable file exits 1" 1 \
		timeout 60 "${AS[@]}" sync "file://$U/src" "$U/dst2"
	fx_eq "file://: the summary counts one failure" "copied 5, skipped 0, deleted 0, failed 1" \
		"$(summary)"
	fx_ok "file://: the other files are copied" test -f "$U/dst2/f1" -a -f "$U/dst2/sub/in"
fi
chmod 644 "$U/src/f2"

# ------------------------------------------------------------ 9. progress

if command -v script >/dev/null; then
	P=$FX_TMP/progress
	mkdir -p "$P"
	for i in $(seq 1 2000); do printf '%s\n' "$i" >"$P/f$i"; done
	# A terminal for stderr; --concurrency 1 keeps it running for a few redraws
	# on a busy machine. On a quick one the first line (no rate yet, ETA --:--)
	# may be the only one before the summary.
	fx_run script -qec "timeout 60 '$RUSTFX_BIN' sync --concurrency 1 '$P' '$FX_TMP/progress-dst'" /dev/null
	fx_eq "sync under script(1) exits 0" 0 "$FX_RC"
	fx_match "a terminal gets a progress line with files, bytes, rate and ETA" "$FX_OUT" \
		'[0-9]+/2000 files +[0-9.]+ [KMG]?i?B/[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B/s +ETA ([0-9]+:[0-9]{2}:[0-9]{2}|--:--)'
	fx_match "... and the summary" "$FX_OUT" 'copied 2000, skipped 0'
else
	fx_skip "a terminal gets a progress bar" "script(1) is not installed"
fi

fx_finish
