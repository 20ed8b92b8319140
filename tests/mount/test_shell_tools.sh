#!/usr/bin/env bash
#
# test_shell_tools.sh - everyday shell tools behave on a rustfx mount exactly
# as on a plain local directory.
#
# Each comparison runs one shell snippet twice, in a work directory on the
# mount and in one on plain disk, and requires the same stdout, stderr and
# exit status; snippets print only what is meaningful to compare (type, size,
# mode, explicitly set mtimes, link targets, checksums), never inode numbers,
# link counts or atimes. Checks that have no plain-disk twin (hard links are
# refused, what reaches the backing bucket) assert their expectation directly.

# Snippets in single quotes are expanded by the shell that runs them.
# shellcheck disable=SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse

BUCKET=$FX_TMP/bucket # the file:// backend's directory
MNT=$FX_TMP/mnt
PLAIN=$FX_TMP/plain
export FX_DATA=$FX_TMP/data # inputs shared by both runs of a snippet
export FX_SRC=$FX_TMP/src   # a source tree to copy in
M=$MNT/w                    # work dir on the mount
P=$PLAIN/w                  # its plain twin
mkdir -p "$BUCKET" "$PLAIN" "$FX_DATA" "$FX_SRC"

# Random inputs are made once so both runs see the same bytes.
head -c 4096 /dev/urandom >"$FX_DATA/rand4k"
head -c 65536 /dev/urandom >"$FX_DATA/rand64k"
head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$FX_DATA/rand3m"

# A source tree with every kind of entry and explicit modes and mtimes.
mkdir -p "$FX_SRC/d1/d2" "$FX_SRC/emptydir"
printf 'hello world\n' >"$FX_SRC/top.txt"
: >"$FX_SRC/empty"
printf '#!/bin/sh\necho hi\n' >"$FX_SRC/exec.sh"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$FX_SRC/big.bin"
printf 'spaces\n' >"$FX_SRC/with space.txt"
printf 'nested data\n' >"$FX_SRC/d1/nested.txt"
printf 'deep hello\n' >"$FX_SRC/d1/d2/deep.txt"
ln -s top.txt "$FX_SRC/link"
ln -s d1/d2 "$FX_SRC/dlink"
chmod 600 "$FX_SRC/empty"
chmod 755 "$FX_SRC/exec.sh"
chmod 640 "$FX_SRC/d1/nested.txt"
chmod 750 "$FX_SRC/d1/d2"
touch -d '2019-05-06 07:08:09' "$FX_SRC/top.txt" "$FX_SRC/big.bin" "$FX_SRC/empty"
touch -d '2018-01-01 00:00:01' "$FX_SRC/exec.sh" "$FX_SRC/with space.txt" \
	"$FX_SRC/d1/nested.txt" "$FX_SRC/d1/d2/deep.txt"
touch -d '2017-03-04 05:06:07' "$FX_SRC/d1/d2" "$FX_SRC/d1" "$FX_SRC/emptydir"

# One object planted in the bucket (and its twin on disk) before mounting:
# writing into it must read-modify-write an object the mount never staged.
mkdir -p "$BUCKET/w" "$P"
cp "$FX_DATA/rand64k" "$BUCKET/w/planted.bin"
cp "$FX_DATA/rand64k" "$P/planted.bin"

fx_mount "$BUCKET" "$MNT" || fx_finish
fx_ok "work dir on the mount is visible" test -d "$M"

# fx_manifest PATH...: one line per entry below PATH with what must survive
# a copy: type, mode, size and mtime of files, checksum, link target.
# Directory sizes and mtimes are filesystem details and left out; with
# FX_NO_MTIME=1 file mtimes too (for files written "now", which differ by
# run).
fx_manifest() {
	local fmt='%F %a %s %Y'
	[ -n "${FX_NO_MTIME:-}" ] && fmt='%F %a %s'

	find "$@" | LC_ALL=C sort | while IFS= read -r p; do
		if [ -L "$p" ]; then
			printf '%s link -> %s\n' "$p" "$(readlink "$p")"
		elif [ -d "$p" ]; then
			printf '%s dir %s\n' "$p" "$(stat -c %a "$p")"
		else
			printf '%s %s\n' "$p" "$(stat -c "$fmt" "$p") $(sha256sum <"$p" | cut -c1-16)"
		fi
	done
}
export -f fx_manifest

# `ls -la` reduced to type+mode, size (not for directories), name: link
# counts, owners' inode numbers and times are not ours to compare.
fx_ls() {
	LC_ALL=C ls -la --time-style=+%s "$@" | awk '
		/^total/ { next }
		{ perm = substr($1, 1, 10); size = (perm ~ /^d/) ? "-" : $5
		  $1 = $2 = $3 = $4 = $5 = $6 = ""; sub(/^ +/, "")
		  if ($0 == "..") next
		  print perm, size, $0 }'
}
export -f fx_ls

# fx_both DESC SNIPPET: SNIPPET (bash) in the mount's work dir and in the
# plain one must print the same and exit the same.
fx_both() {
	local desc=$1 snip=$2 out_m out_p rc_m rc_p
	out_m=$(cd "$M" && bash -c "$snip" 2>&1)
	rc_m=$?
	out_p=$(cd "$P" && bash -c "$snip" 2>&1)
	rc_p=$?
	if [ "$out_m" == "$out_p" ] && [ "$rc_m" -eq "$rc_p" ]; then
		fx_pass "$desc"
	else
		fx_fail "$desc" "snippet: $snip" \
			"exit: plain $rc_p, mount $rc_m" \
			"$(diff <(printf '%s\n' "$out_p") <(printf '%s\n' "$out_m") |
				sed 's/^</plain/; s/^>/mount/')"
	fi
}

# ------------------------------------------------------------ namespace

fx_both "mkdir -p a/b/c" \
	'mkdir -p a/b/c && find a | sort && stat -c "%F %a" a a/b a/b/c'
fx_both "mkdir of an existing dir fails alike" 'mkdir a'
fx_both "create + cat + stat a small file" \
	'printf "hello\n" > f1 && cat f1 && stat -c "%F %s %a" f1'
fx_both "cat of a 3 MiB file" \
	'cp "$FX_DATA/rand3m" big && sha256sum < big && stat -c "%F %s %a" big'
fx_both "overwrite with > truncates first" \
	'printf "longer content\n" > ow && printf "short\n" > ow && cat ow && stat -c %s ow'
fx_both "reading a missing file fails alike" 'cat no-such-file'

fx_both "ls -la of a mixed directory" '
	mkdir -p lsdir/sub && printf abc > lsdir/file && : > lsdir/empty &&
	printf x > "lsdir/with space" && ln -s file lsdir/lnk && chmod 640 lsdir/file &&
	chmod 700 lsdir/sub && ls_out=$(fx_ls lsdir) && echo "$ls_out"'
fx_both "stat -c '%F %s %a' of files and a link" \
	'stat -c "%n %F %s %a" lsdir/file lsdir/empty "lsdir/with space" lsdir/lnk'
fx_both "stat -c '%F %a' of directories" 'stat -c "%n %F %a" lsdir lsdir/sub'

# ------------------------------------------------------------ copy trees

fx_both "cp -a of a tree, then diff -r" \
	'cp -a "$FX_SRC" tree && diff -r "$FX_SRC" tree && echo identical'
fx_both "cp -a keeps types, modes, sizes, mtimes, link targets" 'fx_manifest tree'
fx_both "cp -a keeps explicitly set directory mtimes" \
	'stat -c "%n %Y" tree/d1 tree/d1/d2 tree/emptydir'
fx_both "ls -la of the copied tree" 'fx_ls tree tree/d1'

fx_both "tar c | tar x round trip, then diff -r" \
	'mkdir untar && tar -C "$FX_SRC" -cf - . | tar -C untar -xf - &&
	 diff -r "$FX_SRC" untar && echo identical'
fx_both "tar x keeps types, modes, sizes, mtimes, link targets" \
	'cd untar && fx_manifest .'

# -------------------------------------------------------------- renames

fx_both "mv of a file" \
	'printf data > mvsrc && mv mvsrc mvdst; ls mvsrc; cat mvdst'
fx_ok "mv of a file: old key gone from the bucket" test ! -e "$BUCKET/w/mvsrc"
fx_ok "mv of a file: new key in the bucket" test -f "$BUCKET/w/mvdst"
fx_both "mv of a directory with contents" \
	'mkdir -p md/sub && printf 1 > md/a && printf 2 > md/sub/b && mv md md2;
	 ls md; find md2 | sort; cat md2/a md2/sub/b'
fx_ok "mv of a directory: old prefix gone from the bucket" test ! -e "$BUCKET/w/md"
fx_both "mv over an existing file replaces it" \
	'printf old > rpl && printf new > rpl2 && mv rpl2 rpl; cat rpl; ls rpl2'
fx_both "mv --no-clobber keeps an existing target" \
	'printf a > na && printf b > nb && mv --no-clobber na nb; echo "rc=$?"; cat na nb'
fx_both "mv -T onto an empty directory replaces it" \
	'mkdir te1 te2 && touch te1/f && mv -T te1 te2; echo "rc=$?"; ls te1; ls te2'
fx_both "mv -T onto a non-empty directory is refused" \
	'mkdir -p td1 td2/x && mv -T td1 td2; echo "rc=$?"; ls td2'
fx_both "mv -T of a file onto a directory is refused" \
	'touch tf && mkdir tfd && mv -T tf tfd; echo "rc=$?"; ls -d tf tfd'
fx_both "mv -T of a directory onto a file is refused" \
	'mv -T tfd tf; echo "rc=$?"; ls -d tf tfd'

# -------------------------------------------------------------- removal

fx_both "rm -r of a tree" \
	'mkdir -p rmd/x/y && touch rmd/x/y/z rmd/f && rm -r rmd; echo "rc=$?"; ls rmd'
fx_ok "rm -r: nothing left in the bucket" test ! -e "$BUCKET/w/rmd"
fx_both "rmdir of a non-empty dir fails" \
	'mkdir -p ne/sub && rmdir ne; echo "rc=$?"; mkdir ne2 && touch ne2/f && rmdir ne2'
fx_run rmdir "$M/ne"
fx_match "rmdir of a non-empty dir says 'Directory not empty'" "$FX_ERR" 'Directory not empty'
fx_both "rmdir of an empty dir succeeds" 'rmdir ne/sub && ls ne | wc -l'
fx_both "rm of a file, then stat fails" 'touch gone && rm gone && stat -c %s gone'

# ------------------------------------------------------------ symlinks

fx_both "ln -s, readlink, read through the link" \
	'printf "target data\n" > lt && ln -s lt lnk && readlink lnk && cat lnk &&
	 stat -c "%F %s" lnk && stat -L -c "%F %s" lnk'
fx_both "symlink to a directory, and an absolute target" \
	'ln -s a/b dl && ls dl && readlink dl && ln -s /nonexistent/abs abs && readlink abs'
fx_both "dangling symlink: readlink works, cat fails alike" \
	'ln -s nowhere dangling && readlink dangling; cat dangling'
fx_both "ln -s onto an existing name fails alike" 'ln -s lt lnk'

# ------------------------------------------------------------ contents

fx_both "dd of 4 KiB at block 3 into a staged file (conv=notrunc)" \
	'head -c 16384 "$FX_DATA/rand64k" > ddf &&
	 dd if="$FX_DATA/rand4k" of=ddf bs=4k count=1 seek=3 conv=notrunc status=none &&
	 sha256sum < ddf && stat -c %s ddf'
fx_both "dd of 4 KiB into the middle of an object planted in the bucket" \
	'dd if="$FX_DATA/rand4k" of=planted.bin bs=4k count=1 seek=5 conv=notrunc status=none &&
	 sha256sum < planted.bin && stat -c %s planted.bin'
fx_both "dd past the end leaves a hole of zeros" \
	'dd if="$FX_DATA/rand4k" of=ddf bs=4k count=1 seek=10 conv=notrunc status=none &&
	 sha256sum < ddf && stat -c %s ddf && cmp -n 4096 -i 20480:0 ddf /dev/zero && echo zeros'
fx_both "truncate -s grow then shrink then zero" \
	'cp "$FX_DATA/rand64k" tr && truncate -s 100000 tr && sha256sum < tr && stat -c %s tr &&
	 truncate -s 1000 tr && sha256sum < tr && stat -c %s tr && truncate -s 0 tr && stat -c %s tr'
fx_both "truncate of the planted object" \
	'truncate -s 10000 planted.bin && sha256sum < planted.bin && stat -c %s planted.bin'
fx_both "echo >> appends twice (O_APPEND)" \
	'printf "start\n" > ap && echo x >> ap && echo x >> ap && cat ap && stat -c %s ap'
fx_both "echo >> creates a new file and appends" \
	'echo one >> ap2 && echo two >> ap2 && cat ap2'
fx_both "grep -r" 'grep -r hello . | sort; grep -rl "nested data" . | sort'
fx_both "grep -r with no match exits 1" 'grep -r no-such-text-anywhere .'

# ------------------------------------------------------------ metadata

fx_both "touch -d sets mtime" \
	"touch tt && touch -d '2020-01-02 03:04:05' tt && stat -c %Y tt"
fx_eq "touch -d mtime is the requested instant" \
	"$(date -d '2020-01-02 03:04:05' +%s)" "$(stat -c %Y "$M/tt" 2>&1)"
fx_both "touch -d on a directory" \
	"mkdir tdir && touch -d '2021-02-03 04:05:06' tdir && stat -c %Y tdir"
fx_both "chmod 600 and 755 on a file, 700 on a dir" \
	'touch cm && chmod 600 cm && stat -c %a cm && chmod 755 cm && stat -c %a cm &&
	 mkdir cmd && chmod 700 cmd && stat -c %a cmd'
fx_both "setfattr / getfattr -n / getfattr -d / setfattr -x" \
	'touch xa && setfattr -n user.color -v blue xa && getfattr -n user.color xa &&
	 getfattr -d xa && setfattr -x user.color xa && getfattr -d xa; getfattr -n user.color xa'
fx_both "no other extended attributes are visible (-m -)" 'getfattr -d -m - xa f1 lsdir'
fx_both "xattr on a directory" \
	'setfattr -n user.tag -v d a && getfattr -n user.tag --only-values a; echo'

# ------------------------------------------------------- refused on purpose

fx_run ln "$M/f1" "$M/hardlink"
if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'Operation not supported'; then
	fx_pass "ln (hard link) fails with 'Operation not supported'"
else
	fx_fail "ln (hard link) fails with 'Operation not supported'" "$(fx_ctx)"
fi
fx_ok "failed hard link left no entry" test ! -e "$M/hardlink"
rm -f "$M/hardlink" # so the whole-tree views below report only their own faults

# --------------------------------------------------- what reaches the bucket

# What close() acknowledged is in the backend: no sync, no unmount.
cp "$FX_DATA/rand3m" "$M/bk"
fx_same_file "after cp returns, the bucket file has the bytes" "$FX_DATA/rand3m" "$BUCKET/w/bk"
printf 'synced\n' >"$M/sy"
printf 'synced\n' >"$P/sy" # its twin, for the whole-tree views below
sync
fx_eq "after write + sync, the bucket file has the bytes" "synced" "$(cat "$BUCKET/w/sy" 2>&1)"
fx_same_file "dd into the planted object reached the bucket" "$M/planted.bin" "$BUCKET/w/planted.bin"
fx_same_file "appends reached the bucket" "$P/ap" "$BUCKET/w/ap"

chmod 640 "$M/bk"
touch -d '2020-01-02 03:04:05' "$M/bk"
xattrs=$(getfattr -d -m user.rustfx "$BUCKET/w/bk" 2>&1)
fx_match "mode is a user.rustfx xattr on the backing file" "$xattrs" '^user\.rustfx\.[a-z._-]*mode='
fx_match "mtime is a user.rustfx xattr on the backing file" "$xattrs" '^user\.rustfx\.[a-z._-]*mtime='
fx_match "the stored mode is 0640" "$xattrs" \
	'mode="?(33184|0?100640|0?640)"?$'
fx_match "the stored mtime is the touch -d instant" "$xattrs" \
	"mtime=\"?$(date -d '2020-01-02 03:04:05' +%s)"
fx_run cmp "$FX_DATA/rand3m" "$BUCKET/w/bk"
fx_eq "metadata changes kept the bytes" 0 "$FX_RC"
rm "$M/bk"
fx_ok "rm through the mount removes the backing file" test ! -e "$BUCKET/w/bk"

# ------------------------------------------------------- whole-tree views

fx_both "find . | sort over everything above" 'find . | LC_ALL=C sort'
fx_both "ls -la of the work dir" 'fx_ls .'
fx_both "manifest of everything above (modes, sizes, checksums, links)" \
	'FX_NO_MTIME=1 fx_manifest .'
fx_ok "df on the mount" df -P "$MNT"

# ------------------------------------------------------------- unmount

fx_umount "$MNT"
fx_eq "umount leaves no mount" 0 $?
fx_eq "rustfx umount exits 0" 0 "$FX_UMOUNT_RC"
fx_eq "the foreground mount exits 0 after umount" 0 "$FX_DAEMON_RC"
fx_same_file "after unmount the bucket still has the file" "$P/big" "$BUCKET/w/big"

fx_finish
