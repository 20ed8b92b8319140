#!/usr/bin/env bash
#
# test_persist.sh - what was written through a mount is still there after an
# unmount and a remount; read-only mounts refuse writes; the fstab helper
# mounts; files planted in the bucket by other tools show up, but symlinks
# planted there (which could lead out of the bucket) do not.
#
# The expected state is the same tree built by the same commands on plain
# disk, so the test states no expected value by hand that a tool could get
# differently.
#
# With FX_S3_ENV set (see lib.sh) the mount is an S3 prefix, and what this
# test plants in or reads from the bucket goes through the fx_bucket_*
# helpers (s3req.py requests); the planted-symlink checks, which have no S3
# equivalent, print skip: lines.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
PLAIN=$FX_TMP/plain
export FX_DATA=$FX_TMP/data
mkdir -p "$BUCKET" "$PLAIN" "$FX_DATA"
head -c 4096 /dev/urandom >"$FX_DATA/rand4k"
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom >"$FX_DATA/rand5m"

# build_tree DIR: every kind of entry and every kind of change (overwrite,
# append, rename, delete, unaligned write, truncate), then explicit modes,
# xattrs and mtimes. Prints only what failed.
build_tree() {
	(
		cd "$1" || exit 1
		mkdir -p docs/sub/deeper empty_dir "dir with space" renamed_src/inner
		printf 'hello persist\n' >docs/a.txt
		: >docs/zero
		printf x >docs/one
		cp "$FX_DATA/rand4k" docs/sub/4k
		cp "$FX_DATA/rand5m" docs/sub/deeper/5m.bin
		dd if="$FX_DATA/rand4k" of=docs/sub/deeper/5m.bin bs=1000 seek=1049 count=4 \
			conv=notrunc status=none
		cp "$FX_DATA/rand5m" trunc.bin
		truncate -s 1234567 trunc.bin
		printf 'long original content\n' >rewritten
		printf 'short\n' >rewritten
		printf 'a\n' >appended
		printf 'b\n' >>appended
		printf data >to_rename
		mv to_rename renamed
		printf gone >deleted
		rm deleted
		printf in >renamed_src/inner/f
		mv renamed_src renamed_dir
		printf 'naïve\n' >'naïve résumé.txt'
		printf s >'dir with space/file'
		ln -s docs/a.txt rel_link
		ln -s /etc/hostname abs_link
		ln -s nowhere dangling
		ln -s docs/sub dir_link
		chmod 600 docs/a.txt
		chmod 755 docs/one
		chmod 640 docs/sub/4k
		chmod 700 docs/sub
		chmod 750 empty_dir
		setfattr -n user.color -v blue docs/a.txt
		setfattr -n user.shape -v round docs/a.txt
		setfattr -n user.bin -v 0x00ff10 docs/one
		setfattr -n user.note -v 'dir attr' docs
		# A distinct mtime per file, so swapped metadata cannot pass.
		local t=1577934245 f
		while IFS= read -r f; do
			touch -d "@$t" "$f"
			t=$((t + 61))
		done < <(find . -type f | LC_ALL=C sort)
		# Directories last and deepest first: their contents are final.
		touch -d '2019-06-07 08:09:10' docs/sub/deeper docs/sub docs empty_dir renamed_dir
	) 2>&1
}

# manifest DIR: type, mode, size, mtime, checksum, link target and user
# xattrs of every entry; directory sizes and mtimes are left out here.
manifest() {
	(
		cd "$1" || exit 1
		find . | LC_ALL=C sort | while IFS= read -r p; do
			if [ -L "$p" ]; then
				printf '%s link -> %s\n' "$p" "$(readlink "$p")"
				continue
			fi
			if [ -d "$p" ]; then
				printf '%s dir %s' "$p" "$(stat -c %a "$p")"
			else
				printf '%s %s %s' "$p" "$(stat -c '%F %a %s %Y' "$p")" \
					"$(sha256sum <"$p" | cut -c1-16)"
			fi
			printf ' xattrs[%s]\n' "$(getfattr -d -e hex -m '^user\.' "$p" 2>/dev/null |
				grep -v '^#' | grep . | LC_ALL=C sort | tr '\n' ' ')"
		done
	) 2>&1
}

dir_mtimes() {
	(cd "$1" && stat -c '%n %Y' docs/sub/deeper docs/sub docs empty_dir renamed_dir) 2>&1
}

# The bucket as the backend sees it: names, types, sizes, bytes, xattrs.
# S3: every key with its size, ETag and Last-Modified (any PUT or metadata
# copy changes the last).
bucket_snapshot() {
	if fx_s3; then
		fx_s3_list "$(fx_s3_key "$BUCKET")/" 2>&1
		return
	fi
	(
		cd "$BUCKET" || exit 1
		find . -printf '%p %y %s %m\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
		getfattr -R -d -e hex -m - . 2>/dev/null
	)
}

# ------------------------------------------------- write, remount, compare

fx_mount "$BUCKET" "$MNT" || fx_finish
fx_eq "build the tree on plain disk" "" "$(build_tree "$PLAIN")"
fx_eq "build the tree through the mount (no command fails)" "" "$(build_tree "$MNT")"
expected=$(manifest "$PLAIN")
expected_dirs=$(dir_mtimes "$PLAIN")
fx_same_text "tree on the mount before unmount" "$expected" "$(manifest "$MNT")"

fx_umount "$MNT"
fx_eq "unmount after writing" 0 $?
fx_eq "foreground mount exits 0 after umount" 0 "$FX_DAEMON_RC"

fx_mount "$BUCKET" "$MNT" || fx_finish
fx_same_text "tree survives a remount (same cache dir)" "$expected" "$(manifest "$MNT")"
fx_same_text "directory mtimes survive a remount" "$expected_dirs" "$(dir_mtimes "$MNT")"
fx_umount "$MNT"

# A fresh cache dir: everything must come from the bucket itself. On S3 a
# listing shows modes, owners and symlinks only with dir_meta=head (the
# default shows the listing's attributes until a file is opened: README).
fx_mount "$BUCKET" "$MNT" "dir_meta=head" "$FX_TMP/cache-fresh" || fx_finish
fx_same_text "tree survives a remount with an empty cache" "$expected" "$(manifest "$MNT")"
fx_umount "$MNT"

# ------------------------------------------- signals unmount cleanly

for sig in TERM INT; do
	fx_mount "$BUCKET" "$MNT" || fx_finish
	printf 'written before SIG%s\n' "$sig" >"$MNT/sig-$sig"
	pid=$FX_LAST_PID
	kill -"$sig" "$pid"
	if fx_wait_mount "$MNT" 10 down; then
		fx_pass "SIG$sig unmounts"
	else
		fx_fail "SIG$sig unmounts" "still mounted 10 s after kill -$sig $pid"
	fi
	fx_umount "$MNT" "$pid" # reaps the process (and unmounts if it did not)
	fx_eq "SIG$sig: the mount process exits 0" 0 "$FX_DAEMON_RC"
	fx_eq "SIG$sig: the file written before is in the bucket" \
		"written before SIG$sig" "$(fx_bucket_cat "$BUCKET/sig-$sig" 2>&1)"
	fx_bucket_rm "$BUCKET/sig-$sig"
done

# ------------------------------------ a crash, and a cache that went stale

# What close() acknowledged survives even kill -9 of the daemon; the
# persistent cache left behind must open again, and must not serve blocks of
# objects that changed in the bucket while nothing was mounted.
fx_mount "$BUCKET" "$MNT" || fx_finish
cp "$FX_DATA/rand5m" "$MNT/crash.bin"
printf 'short and old\n' >"$MNT/stale.txt"
printf 'same size AAAA\n' >"$MNT/stale-same-size.txt"
cat "$MNT/crash.bin" "$MNT/stale.txt" "$MNT/stale-same-size.txt" >/dev/null # into the cache
pid=$FX_LAST_PID
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null # quiet: no "Killed" job notice
fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
fx_same_file "after kill -9, what close() acknowledged is in the bucket" \
	"$FX_DATA/rand5m" "$(fx_bucket_file "$BUCKET/crash.bin")"
# Changed behind rustfx's back: another size, and the same size with new bytes.
printf 'a longer and newer version\n' | fx_bucket_put "$BUCKET/stale.txt"
sleep 1.1 # a new mtime second, as a coarse-clock writer would leave
printf 'same size BBBB\n' | fx_bucket_put "$BUCKET/stale-same-size.txt"

fx_mount "$BUCKET" "$MNT" || fx_finish
fx_ok "the cache left by kill -9 opens again" test -d "$MNT/docs"
fx_ok "after kill -9 and remount the file reads back" cmp "$FX_DATA/rand5m" "$MNT/crash.bin"
fx_eq "an object changed while unmounted: no stale blocks (new size)" \
	"a longer and newer version" "$(cat "$MNT/stale.txt" 2>&1)"
fx_eq "an object changed while unmounted: no stale blocks (same size)" \
	"same size BBBB" "$(cat "$MNT/stale-same-size.txt" 2>&1)"
rm -f "$MNT/crash.bin" "$MNT/stale.txt" "$MNT/stale-same-size.txt"
fx_umount "$MNT"

# ---------------------------------------------------------- read-only

before=$(bucket_snapshot)
fx_mount "$BUCKET" "$MNT" ro || fx_finish
fx_same_text "ro mount shows the whole tree" "$expected" "$(manifest "$MNT")"
# fx_erofs DESC CMD...: fails, saying "Read-only file system".
fx_erofs() {
	local desc=$1
	shift
	fx_run "$@"
	if [ "$FX_RC" -ne 0 ] && printf '%s' "$FX_ERR" | grep -q 'Read-only file system'; then
		fx_pass "ro: $desc fails with EROFS"
	else
		fx_fail "ro: $desc fails with EROFS" "command: $*" "$(fx_ctx)"
	fi
}
fx_erofs "touch of a new file" touch "$MNT/new"
fx_erofs "write to an existing file" bash -c "echo more >> '$MNT/appended'"
fx_erofs "truncate" truncate -s 0 "$MNT/rewritten"
fx_erofs "mkdir" mkdir "$MNT/newdir"
fx_erofs "rm" rm "$MNT/docs/zero"
fx_erofs "rmdir" rmdir "$MNT/empty_dir"
fx_erofs "mv" mv "$MNT/renamed" "$MNT/renamed2"
fx_erofs "chmod" chmod 777 "$MNT/docs/one"
fx_erofs "touch -d of an existing file" touch -d '2001-01-01' "$MNT/docs/one"
fx_erofs "setfattr" setfattr -n user.x -v y "$MNT/docs/a.txt"
fx_erofs "ln -s" ln -s x "$MNT/newlink"
fx_ok "ro: reading still works" cmp "$PLAIN/docs/sub/deeper/5m.bin" "$MNT/docs/sub/deeper/5m.bin"
fx_umount "$MNT"
fx_same_text "ro mount left the bucket untouched" "$before" "$(bucket_snapshot)"

# ------------------------------------------- objects planted by other tools

# Plain files written by another tool carry no rustfx metadata: visible,
# readable. Symlinks on the backing disk are not objects any store could
# hold and could lead out of the bucket: invisible, unreadable.
printf 'from another tool\n' | fx_bucket_put "$BUCKET/planted.txt"
# S3: no marker object, as "aws s3 cp" leaves a directory.
fx_s3 || mkdir -p "$BUCKET/planted_dir"
printf 'inner\n' | fx_bucket_put "$BUCKET/planted_dir/inner.txt"
no_symlinks="an object store has no symlinks of its own to plant"
if ! fx_s3; then
	ln -s /etc "$BUCKET/evil_dir"
	ln -s /etc/passwd "$BUCKET/evil_file"
	ln -s /etc/passwd "$BUCKET/docs/evil_nested"
	ln -s ../.. "$BUCKET/docs/evil_up"
fi

fx_mount "$BUCKET" "$MNT" || fx_finish
fx_eq "a planted file is readable" "from another tool" "$(cat "$MNT/planted.txt" 2>&1)"
fx_eq "a planted directory is listed and readable" "inner" "$(cat "$MNT/planted_dir/inner.txt" 2>&1)"
if fx_s3; then
	for check in "ls does not show planted symlinks" \
		"cat through a planted symlink to /etc/passwd fails" \
		"cat through a nested planted symlink fails" \
		"ls through a planted symlink to /etc fails" \
		"stat of a file behind a planted dir symlink fails" \
		"a planted ../.. symlink does not lead out" \
		"readlink of a planted symlink fails" \
		"find does not reach the planted symlinks"; do
		fx_skip "$check" "$no_symlinks"
	done
else
	listing=$(ls -a "$MNT" "$MNT/docs" 2>&1)
	fx_nomatch "ls does not show planted symlinks" "$listing" '^evil_'
	fx_not "cat through a planted symlink to /etc/passwd fails" cat "$MNT/evil_file"
	fx_not "cat through a nested planted symlink fails" cat "$MNT/docs/evil_nested"
	fx_not "ls through a planted symlink to /etc fails" ls "$MNT/evil_dir/"
	fx_not "stat of a file behind a planted dir symlink fails" stat "$MNT/evil_dir/passwd"
	fx_not "a planted ../.. symlink does not lead out" ls "$MNT/docs/evil_up/"
	fx_not "readlink of a planted symlink fails" readlink "$MNT/evil_file"
	fx_nomatch "find does not reach the planted symlinks" "$(cd "$MNT" && find . 2>&1)" 'evil|passwd|hostname$'
fi
fx_umount "$MNT"
fx_s3 || rm -f "$BUCKET/evil_dir" "$BUCKET/evil_file" "$BUCKET/docs/evil_nested" "$BUCKET/docs/evil_up"

# ------------------------------------------- metadata written by others

# Another tool (or an older rustfx) may leave metadata rustfx would never
# write. Whatever it makes of it, the daemon must stay up and the rest of
# the directory must stay usable.
# (file://: xattrs user.rustfx.NAME; S3: x-amz-meta-NAME headers.)
G=$BUCKET/garbage
fx_bucket_mkdir "$G"
printf 'fine\n' | fx_bucket_put "$G/ok.txt"
printf 'banana\n' | fx_bucket_put "$G/bad_mode" mode=banana
printf 'dir?\n' | fx_bucket_put "$G/dir_mode_on_file" mode=16877
fx_bucket_mkdir "$G/file_mode_on_dir" mode=33188
printf 'm\n' | fx_bucket_put "$G/huge_mtime" mtime=99999999999999999999999
printf 'm\n' | fx_bucket_put "$G/neg_mtime" mtime=-5
printf 'u\n' | fx_bucket_put "$G/bad_uid" uid=-1 gid=99999999999999
printf 'x\n' | fx_bucket_put "$G/bad_xattr_json" xattr='{not json'
fx_bucket_put "$G/empty_link" mode=41471 </dev/null
head -c 5000 /dev/zero | tr '\0' a | fx_bucket_put "$G/long_link" mode=41471
garbage_names="bad_mode bad_uid bad_xattr_json dir_mode_on_file empty_link file_mode_on_dir
	huge_mtime long_link neg_mtime ok.txt"

fx_mount "$BUCKET" "$MNT" || fx_finish
for n in $garbage_names; do
	ls -la "$MNT/garbage/" >/dev/null 2>&1
	stat "$MNT/garbage/$n" >/dev/null 2>&1
	cat "$MNT/garbage/$n" >/dev/null 2>&1
	readlink "$MNT/garbage/$n" >/dev/null 2>&1
	getfattr -d "$MNT/garbage/$n" >/dev/null 2>&1
done
fx_ok "odd metadata: the daemon is still running" kill -0 "$FX_LAST_PID"
# ls -a, not -la: a link target longer than PATH_MAX may fairly fail readlink.
fx_ok "odd metadata: the directory still lists" ls -a "$MNT/garbage"
fx_match "odd metadata: the listing still has the good file" "$FX_OUT" '^ok\.txt$'
fx_eq "odd metadata: the good file still reads" "fine" "$(cat "$MNT/garbage/ok.txt" 2>&1)"
fx_eq "an unparsable mode still leaves the data readable" "banana" "$(cat "$MNT/garbage/bad_mode" 2>&1)"
fx_ok "odd metadata: the rest of the mount still works" cmp "$PLAIN/trunc.bin" "$MNT/trunc.bin"
fx_umount "$MNT"
fx_eq "odd metadata: the mount process exits 0" 0 "$FX_DAEMON_RC"
fx_bucket_rm_r "$G"

# -------------------------------------------------------- mount options

# mktemp -d made the scratch root 0700; other users must be able to reach
# the mount point for the allow_other checks to mean anything.
chmod 711 "$FX_TMP"

fx_mount "$BUCKET" "$MNT" "uid=1234,gid=4321,umask=027" || fx_finish
fx_eq "uid=/gid= own a planted file" "1234 4321" "$(stat -c '%u %g' "$MNT/planted.txt" 2>&1)"
fx_eq "umask=027 masks a planted file" "640" "$(stat -c '%a' "$MNT/planted.txt" 2>&1)"
fx_eq "umask=027 masks a planted directory" "750" "$(stat -c '%a' "$MNT/planted_dir" 2>&1)"
mounts=$(grep " $MNT " /proc/mounts)
fx_match "the mount is nosuid,nodev" "$mounts" 'nosuid,nodev'
# Without allow_other the kernel keeps other users out entirely.
fx_not "without allow_other another user cannot read" \
	setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/planted.txt"
fx_umount "$MNT"

fx_mount "$BUCKET" "$MNT" "allow_other" || fx_finish
fx_ok "with allow_other another user can read a 0644 file" \
	setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/planted.txt"
fx_umount "$MNT"

fx_mount "$BUCKET" "$MNT" "allow_other,default_permissions" || fx_finish
fx_not "allow_other,default_permissions: a 0600 file stays private" \
	setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/docs/a.txt"
fx_ok "allow_other,default_permissions: a 0644 file is readable" \
	setpriv --reuid=65534 --regid=65534 --clear-groups cat "$MNT/planted.txt"
fx_umount "$MNT"

# ------------------------------------------------------ the fstab helper

if [ ! -x "$MOUNT_RUSTFX_BIN" ]; then
	fx_fail "mount.rustfx exists" "looked at $MOUNT_RUSTFX_BIN (set MOUNT_RUSTFX_BIN)"
else
	FSTAB_MNT=$FX_TMP/mnt-fstab
	mkdir -p "$FSTAB_MNT"
	FX_MOUNTS+=("$FSTAB_MNT")
	# As mount(8) calls it for an fstab line: options it handles itself
	# (defaults, _netdev, nofail, noauto, user) arrive too and must be ignored.
	fx_run timeout 30 "$MOUNT_RUSTFX_BIN" "$(fx_url "$BUCKET")" "$FSTAB_MNT" \
		-o "defaults,_netdev,nofail,noauto,user,cache_dir=$FX_TMP/cache-fstab,log_level=debug,logfile=$FX_TMP/log.fstab${FX_S3_OPTS:+,$FX_S3_OPTS}"
	fx_eq "mount.rustfx with fstab options exits 0" 0 "$FX_RC"
	[ "$FX_RC" -ne 0 ] && fx_log "$(fx_ctx)"
	# mount(8) and systemd take the helper's return as "mounted".
	if fx_is_mounted "$FSTAB_MNT"; then
		fx_pass "mount.rustfx returns with the mount in place"
	else
		fx_fail "mount.rustfx returns with the mount in place" \
			"not a mount point right after mount.rustfx returned" \
			"log: $(tail -n 30 "$FX_TMP/log.fstab" 2>/dev/null)"
		fx_wait_mount "$FSTAB_MNT" 10 up
	fi
	fx_same_text "ls via the fstab mount" \
		"$({ ls "$PLAIN"; printf '%s\n' planted.txt planted_dir; } | LC_ALL=C sort)" \
		"$(ls "$FSTAB_MNT" 2>&1 | LC_ALL=C sort)"
	fx_ok "contents via the fstab mount" cmp "$PLAIN/trunc.bin" "$FSTAB_MNT/trunc.bin"
	fx_ok "rustfx umount of the fstab mount" "$RUSTFX_BIN" umount "$FSTAB_MNT"
	fx_wait_mount "$FSTAB_MNT" 10 down
	fx_not "fstab mount is gone" mountpoint -q "$FSTAB_MNT"
	gone=no
	for ((i = 0; i < 50; i++)); do
		pgrep -f -- "$FSTAB_MNT" >/dev/null || { gone=yes; break; }
		sleep 0.2
	done
	fx_eq "the daemonized process exits after umount" yes "$gone"
fi

fx_finish
