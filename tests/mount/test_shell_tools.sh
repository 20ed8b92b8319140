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
#
# With FX_S3_ENV set (see lib.sh) the mount is an S3 prefix and the checks on
# the backing bucket go through the fx_bucket_* helpers (s3req.py requests);
# checks a server's documented defects break print a skip: line instead.

# Snippets in single quotes are expanded by the shell that runs them.
# shellcheck disable=SC2016
# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse

BUCKET=$FX_TMP/bucket # the file:// backend's directory (S3: the prefix it stands for)
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
mkdir -p "$P"
fx_bucket_mkdir "$BUCKET/w"
fx_bucket_put "$BUCKET/w/planted.bin" <"$FX_DATA/rand64k"
cp "$FX_DATA/rand64k" "$P/planted.bin"

# Short timeouts: the external-writer checks below wait them out.
fx_mount "$BUCKET" "$MNT" "attr_timeout=1,entry_timeout=1" || fx_finish
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
fx_ok "mv of a file: old key gone from the bucket" fx_bucket_absent "$BUCKET/w/mvsrc"
fx_ok "mv of a file: new key in the bucket" fx_bucket_is_file "$BUCKET/w/mvdst"
fx_both "mv of a directory with contents" \
	'mkdir -p md/sub && printf 1 > md/a && printf 2 > md/sub/b && mv md md2;
	 ls md; find md2 | sort; cat md2/a md2/sub/b'
fx_ok "mv of a directory: old prefix gone from the bucket" fx_bucket_absent "$BUCKET/w/md"
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
fx_ok "rm -r: nothing left in the bucket" fx_bucket_absent "$BUCKET/w/rmd"
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
# ENOTSUP, not ENODATA, for namespaces the mount cannot hold: ls -l then
# stops asking for SELinux labels and ACLs after the first file, where
# ENODATA costs it two round trips to the daemon for every file.
for x in security.selinux system.posix_acl_access trusted.t; do
	fx_match "getfattr -n $x: not supported" \
		"$(getfattr -n "$x" "$M/xa" 2>&1)" "xa: $x: Operation not supported"
done
fx_both "xattr on a directory" \
	'setfattr -n user.tag -v d a && getfattr -n user.tag --only-values a; echo'

# ------------------------------------------- open files and odd moments
# Where object stores and POSIX part ways: the file behind an open
# descriptor is renamed or removed, or read before it is closed.

fx_both "stat sees the size of a file still open for writing" \
	'exec 3>openw && printf abcdef >&3 && stat -c %s openw && cat openw; echo; exec 3>&-'
fx_both "a second reader sees data before the writer closes" \
	'exec 3>openr && printf "not yet closed\n" >&3 && cat openr; exec 3>&-; cat openr'
fx_both "read back through the same O_RDWR descriptor" \
	'python3 -c "
import os
fd = os.open(\"rdwr\", os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b\"0123456789\")
os.lseek(fd, 2, 0); print(os.read(fd, 4))
os.pwrite(fd, b\"XY\", 8); print(os.pread(fd, 20, 0))
os.ftruncate(fd, 5); print(os.pread(fd, 20, 0))
os.close(fd)" && cat rdwr; echo'
fx_both "O_EXCL create of an existing file fails" \
	'python3 -c "
import os
try: os.open(\"f1\", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except OSError as e: print(e.strerror)"'
fx_both "a file removed while open for writing stays removed after close" \
	'exec 3>unl && printf data >&3 && rm unl && printf more >&3; exec 3>&-; ls unl'
fx_ok "... and is not in the bucket" fx_bucket_absent "$BUCKET/w/unl"
fx_both "a file renamed while open for writing gets the data under the new name" \
	'exec 3>ren1 && printf before >&3 && mv ren1 ren2 && printf after >&3; exec 3>&-;
	 ls ren1; cat ren2; echo'
fx_ok "... and the old name is not in the bucket" fx_bucket_absent "$BUCKET/w/ren1"
fx_both "a removed file can still be read through an open descriptor" \
	'printf "still here\n" > unr && exec 3<unr && rm unr && cat <&3; exec 3<&-; ls unr'
fx_both "a reader keeps the old file when another is renamed over it" \
	'printf "old\n" > rov && printf "new\n" > rov2 && exec 3<rov && mv rov2 rov && cat <&3;
	 exec 3<&-; cat rov'
fx_both "a file open for writing follows its directory's rename" \
	'mkdir dd && exec 3>dd/f && printf "a\n" >&3 && mv dd ee && printf "b\n" >&3; exec 3>&-;
	 cat ee/f; ls dd'
fx_both "a file open for reading follows its directory's rename" \
	'mkdir -p rd && printf "readable\n" > rd/f && exec 3<rd/f && mv rd rd2 && cat <&3; exec 3<&-'
fx_both "the working directory follows its own rename" \
	'mkdir cwdd && printf "in cwd\n" > cwdd/f && cd cwdd && mv ../cwdd ../cwdd2 && cat f &&
	 touch g && ls ../cwdd2 && ls ../cwdd'
fx_both "a nested file follows a rename of its grandparent" \
	'mkdir -p gp/p && printf "x\n" > gp/p/f && cat gp/p/f && mv gp gp2 && cat gp2/p/f &&
	 printf "y\n" >> gp2/p/f && cat gp2/p/f && mv gp2/p gp2/q && cat gp2/q/f && ls gp'
fx_both "two appenders interleave, nothing is lost" \
	'exec 3>>twoapp 4>>twoapp && printf a >&3 && printf b >&4 && printf c >&3; exec 3>&- 4>&-;
	 cat twoapp; echo'
fx_both "fsync then close" \
	'python3 -c "
import os
fd = os.open(\"fsy\", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, b\"durable\"); os.fsync(fd); os.write(fd, b\"+more\"); os.close(fd)" &&
	 cat fsy; echo; stat -c "%s %a" fsy'
fx_eq "fsync+close: the bucket has every byte" "durable+more" "$(fx_bucket_cat "$BUCKET/w/fsy" 2>&1)"

# ------------------------------------------------------------ odd names

fx_defect long_segment "names with spaces, unicode, shell and URL metacharacters" ||
	fx_both "names with spaces, unicode, shell and URL metacharacters" '
	mkdir odd && cd odd &&
	for n in "sp ace" "üñíçødé" "per%cent" "hash#tag" "q?mark" "star*" "quote'"'"'s" \
		"back\\slash" "-dash" "plus+sign" "amp&" "semi;colon" "a=b" "~tilde" ".hidden" \
		"..dots" "tab	x" "$(printf "%0255d" 0)"; do
		printf "%s" "$n" > "$n" || echo "cannot create $n"
	done; ls -A | LC_ALL=C sort | md5sum; for f in *; do cat -- "$f" | md5sum; done | md5sum'
fx_both "a 256-byte name is refused" \
	'touch "$(printf "%0256d" 0)" 2>&1 | sed "s/.*: //"'
fx_both "a directory of 2,500 entries lists completely" '
	mkdir many && python3 -c "
import os
for i in range(2500): os.close(os.open(\"many/e%04d\" % i, os.O_CREAT | os.O_WRONLY, 0o644))" &&
	ls many | wc -l && ls many | md5sum && find many -type f | wc -l'
fx_both "rm -r of the 2,500 entries" 'rm -r many; ls many'
fx_both "an xattr value of 1,000 bytes" \
	'touch bigx && setfattr -n user.big -v "$(printf "%01000d" 7)" bigx &&
	 getfattr -n user.big --only-values bigx | md5sum'
fx_both "touch -d keeps nanoseconds" \
	"touch nsf && touch -d '2020-01-02 03:04:05.123456789' nsf && stat -c %y nsf"

# --------------------------------------------- reading out of the mount

fx_both "cp out of the mount (copy_file_range, SEEK_HOLE) keeps the bytes" \
	'cp big "$FX_DATA/copy_out" && sha256sum < "$FX_DATA/copy_out"; rm -f "$FX_DATA/copy_out"'
fx_both "st_blocks covers the data (else cp and tar may see holes)" \
	'stat -c "%s %b %B" big | awk "{ print (\$2 * \$3 >= \$1) ? \"covered\" : \"short: \" \$0 }"'
fx_both "tar --sort=name of a tree on the mount lists the same" \
	'tar --sort=name -cf - tree | tar -tvf - | awk "{ print \$1, \$3, \$4, \$5, \$6 }"'
fx_both "random preads at odd offsets match" \
	'python3 -c "
import os, random, hashlib
fd = os.open(\"big\", os.O_RDONLY); size = os.fstat(fd).st_size
rng = random.Random(7); h = hashlib.sha256()
for _ in range(300):
    off = rng.randrange(size + 100); n = rng.choice([1, 7, 4095, 4096, 4097, 65537, 300000])
    h.update(os.pread(fd, n, off))
print(h.hexdigest())"'
fx_both "two concurrent readers see the same bytes" \
	'(sha256sum < big > "$FX_DATA/r1") & (sha256sum < big > "$FX_DATA/r2") & wait;
	 cat "$FX_DATA/r1" "$FX_DATA/r2"'

# ------------------------------------------- how real programs write files

fx_both "sed -i (write a temp file, rename it over the original)" \
	'printf "hello world\nhello again\n" > sedf && sed -i s/hello/bye/ sedf && cat sedf &&
	 stat -c "%F %a %s" sedf && ls | grep -c "^sed"'
fx_both "many open-append-close cycles" \
	'for i in $(seq 1 300); do echo "$i" >> cycles; done; wc -l < cycles; sha256sum < cycles'
fx_both "shared writable mmap" \
	'head -c 8192 "$FX_DATA/rand64k" > mm && python3 -c "
import mmap, os
fd = os.open(\"mm\", os.O_RDWR); m = mmap.mmap(fd, 8192)
m[100:105] = b\"MMAP!\"; m.flush(); m.close(); os.close(fd)" && sha256sum < mm'
fx_both "flock and fcntl locks" \
	'touch lk && flock lk -c "echo locked" && python3 -c "
import fcntl, os
fd = os.open(\"lk\", os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); print(\"lockf ok\")"'
fx_both "sqlite: a transaction, then integrity_check" \
	'python3 -c "
import sqlite3
db = sqlite3.connect(\"db.sqlite\")
db.execute(\"create table t (k integer primary key, v text)\")
with db: db.executemany(\"insert into t values (?, ?)\", ((i, str(i) * 20) for i in range(3000)))
with db: db.execute(\"delete from t where k % 3 = 0\")
db.execute(\"vacuum\")
print(db.execute(\"select count(*), sum(k) from t\").fetchone())
print(db.execute(\"pragma integrity_check\").fetchone()[0])"; ls | grep -c "db.sqlite-"'
fx_both "git init, add, commit, fsck" \
	'git init -q repo && cd repo && printf "a\n" > a && mkdir d && printf "b\n" > d/b &&
	 git add -A && git -c user.email=t@t -c user.name=t commit -qm first &&
	 printf "c\n" >> a && git -c user.email=t@t -c user.name=t commit -qam second &&
	 git log --format=%s && git status --porcelain && git fsck --no-progress 2>&1 && echo fsck-ok &&
	 cd .. && rm -rf repo && echo removed' # the index holds inode numbers: not comparable
fx_both "chown to another user and group" \
	'touch own && chown 1234:4321 own && stat -c "%u %g" own'
fx_run stat -c %Y "$M/f1"
now=$(date +%s)
if [ "$FX_RC" -eq 0 ] && [ $((now - FX_OUT)) -ge -5 ] && [ $((now - FX_OUT)) -le 600 ]; then
	fx_pass "a new file's mtime is about now"
else
	fx_fail "a new file's mtime is about now" "now: $now" "$(fx_ctx)"
fi

# ---------------------------------------------------- renames, the hard ones

fx_both "mv of a copied tree keeps everything" 'mv tree tree2 && fx_manifest tree2 | sed s/tree2/tree/'
fx_both "mv of a file onto itself" 'mv f1 f1; echo "rc=$?"; cat f1'
fx_both "mv of a directory into itself is refused" 'mv a a/b; echo "rc=$?"; find a | sort'
fx_both "rmdir of a dir whose only child is an empty dir" 'mkdir -p only/sub && rmdir only'

# ------------------------------------------------------ path length limits
# Object keys are at most 1,024 bytes (as S3), well below PATH_MAX: a path
# that fits must work, one that does not must fail cleanly, and a rename
# that would not fit must change nothing.

seg=$(printf '%0200d' 0) # 200-byte name: "w/" + 4 of them + a 200-byte file = 1,006 bytes
long=$(printf '%0250d' 0)
fx_ok "a key of about 1,000 bytes works" mkdir -p "$M/$seg/$seg/$seg/$seg"
fx_ok "a file under it works" bash -c "printf deep > '$M/$seg/$seg/$seg/$seg/$seg'"
fx_eq "... and reads back" "deep" "$(cat "$M/$seg/$seg/$seg/$seg/$seg" 2>&1)"
fx_run bash -c "printf x > '$M/$seg/$seg/$seg/$seg/$long'" # 1,056 bytes
if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'File name too long'; then
	fx_pass "a key over 1,024 bytes fails with ENAMETOOLONG"
else
	fx_fail "a key over 1,024 bytes fails with ENAMETOOLONG" "$(fx_ctx)"
fi
fx_run mv "$M/$seg" "$M/$long" # would make the file's key 1,056 bytes
fx_eq "a directory rename that makes keys too long fails" yes \
	"$([ "$FX_RC" -ne 0 ] && echo yes || echo "no (exit $FX_RC)")"
fx_eq "... and leaves the source intact" "deep" \
	"$(cat "$M/$seg/$seg/$seg/$seg/$seg" 2>&1 | sed "s/$seg/<200 zeros>/g; s/$long/<250 zeros>/g")"
fx_eq "... and creates nothing under the new name" absent \
	"$([ -e "$M/$long" ] && echo "present" || echo absent)"
# If the rename went through, renaming back makes the keys short enough to
# remove again.
[ -e "$M/$long" ] && mv "$M/$long" "$M/$seg"
rm -rf "${M:?}/$seg" "${M:?}/$long"

# ------------------------------------------------------- other writers
# The bucket is shared: another tool may change it under a live mount.
# After the attribute and entry timeouts (1 s, set at mount) the mount must
# show the change.

printf 'first version\n' | fx_bucket_put "$BUCKET/w/ext.txt"
printf 'doomed\n' | fx_bucket_put "$BUCKET/w/ext-doomed.txt"
cat "$M/ext.txt" "$M/ext-doomed.txt" >/dev/null 2>&1 # now cached
ls "$M" >/dev/null
printf 'second version, longer\n' | fx_bucket_put "$BUCKET/w/ext.txt"
fx_bucket_rm "$BUCKET/w/ext-doomed.txt"
printf 'new\n' | fx_bucket_put "$BUCKET/w/ext-new.txt"
sleep 3
fx_eq "another writer's change is visible after the timeouts" \
	"second version, longer" "$(cat "$M/ext.txt" 2>&1)"
fx_not "another writer's delete is visible after the timeouts" test -e "$M/ext-doomed.txt"
fx_eq "another writer's new file is readable after the timeouts" "new" "$(cat "$M/ext-new.txt" 2>&1)"
fx_match "another writer's new file is listed after the timeouts" "$(ls "$M" 2>&1)" '^ext-new\.txt$'
fx_nomatch "another writer's delete is not listed after the timeouts" "$(ls "$M" 2>&1)" '^ext-doomed\.txt$'
fx_bucket_rm "$BUCKET/w/ext.txt" "$BUCKET/w/ext-new.txt"
sleep 2

# ------------------------------------------------------- refused on purpose

fx_run ln "$M/f1" "$M/hardlink"
if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'Operation not supported'; then
	fx_pass "ln (hard link) fails with 'Operation not supported'"
else
	fx_fail "ln (hard link) fails with 'Operation not supported'" "$(fx_ctx)"
fi
fx_ok "failed hard link left no entry" test ! -e "$M/hardlink"
rm -f "$M/hardlink" # so the whole-tree views below report only their own faults
fx_run mkfifo "$M/fifo"
if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'Operation not supported'; then
	fx_pass "mkfifo fails with 'Operation not supported'"
else
	fx_fail "mkfifo fails with 'Operation not supported'" "$(fx_ctx)"
fi
fx_ok "failed mkfifo left no entry" test ! -e "$M/fifo"

# --------------------------------------------------- what reaches the bucket

# What close() acknowledged is in the backend: no sync, no unmount.
cp "$FX_DATA/rand3m" "$M/bk"
fx_same_file "after cp returns, the bucket file has the bytes" "$FX_DATA/rand3m" "$(fx_bucket_file "$BUCKET/w/bk")"
printf 'synced\n' >"$M/sy"
printf 'synced\n' >"$P/sy" # its twin, for the whole-tree views below
sync
fx_eq "after write + sync, the bucket file has the bytes" "synced" "$(fx_bucket_cat "$BUCKET/w/sy" 2>&1)"
fx_same_file "dd into the planted object reached the bucket" "$M/planted.bin" "$(fx_bucket_file "$BUCKET/w/planted.bin")"
fx_same_file "appends reached the bucket" "$P/ap" "$(fx_bucket_file "$BUCKET/w/ap")"

chmod 640 "$M/bk"
touch -d '2020-01-02 03:04:05' "$M/bk"
xattrs=$(fx_bucket_meta "$BUCKET/w/bk" 2>&1)
# file://: xattrs user.rustfx.NAME="VALUE"; S3: headers, as x-amz-meta-NAME=VALUE.
meta_where="a user.rustfx xattr on the backing file" meta_re='^user\.rustfx\.[a-z._-]*'
fx_s3 && meta_where="x-amz-meta- metadata of the object" meta_re='^x-amz-meta-'
fx_match "mode is $meta_where" "$xattrs" "${meta_re}mode="
fx_match "mtime is $meta_where" "$xattrs" "${meta_re}mtime="
fx_match "the stored mode is 0640" "$xattrs" \
	'mode="?(33184|0?100640|0?640)"?$'
fx_match "the stored mtime is the touch -d instant" "$xattrs" \
	"mtime=\"?$(date -d '2020-01-02 03:04:05' +%s)"
fx_run cmp "$FX_DATA/rand3m" "$(fx_bucket_file "$BUCKET/w/bk")"
fx_eq "metadata changes kept the bytes" 0 "$FX_RC"
rm "$M/bk"
fx_ok "rm through the mount removes the backing file" fx_bucket_absent "$BUCKET/w/bk"

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
fx_same_file "after unmount the bucket still has the file" "$P/big" "$(fx_bucket_file "$BUCKET/w/big")"

fx_finish
