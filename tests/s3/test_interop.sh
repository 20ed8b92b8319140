#!/usr/bin/env bash
#
# test_interop.sh - rustfx and another S3 client share one bucket (F2 point 7):
# s3cmd (Debian's package, installed here on first use) against a real Ceph
# radosgw, with a rustfx mount of the same prefix.
#
#   1. Objects put by s3cmd (plain, multipart, nested, awkward names) show
#      through the mount in ls, ls -l and find, with their size, bytes and
#      the mode and mtime s3cmd recorded.
#   2. Files written through the mount (small, and 12 MiB uploaded in parts)
#      are plain objects: s3cmd ls lists them with their sizes and s3cmd get
#      returns their bytes; a mkdir shows in s3cmd ls as a DIR prefix; a file
#      uploaded in parts has the Content-Type of one uploaded whole.
#   3. A rename (file and directory) and a chmod through the mount are what
#      s3cmd sees: the old keys are gone, the new ones there, and s3cmd info
#      shows x-amz-meta-mode; s3cmd's own header and Content-Type survive.
#   4. Keys with spaces, '+' and non-ASCII characters round-trip both ways,
#      and a live mount (attr/entry_timeout=0) sees s3cmd's put and del.
#
# s3cmd stores a file's attributes in its own header, x-amz-meta-s3cmd-attrs
# ("atime:.../mode:33188/mtime:.../uid:0/..."); rustfx reads mode, uid, gid
# and mtime from it where s3fs's names (x-amz-meta-mode/uid/gid/mtime) are
# absent, and s3fs's names win once rustfx has written them (chmod). This
# test checks both, and that rustfx keeps s3cmd's header when it rewrites
# the metadata (chmod, rename).
#
# Starts its own rgw (tests/s3/rgw.sh) under the scratch directory and stops
# it on exit; everything listens on 127.0.0.1, every wait is bounded, and all
# keys lie under one prefix of this run. Prints "N passed, N failed" and exits
# non-zero on any failure; exits 77 only when /dev/fuse is absent.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unset FX_S3_ENV # this test starts its own server; lib.sh reads it in fx_setup
# shellcheck source=tests/mount/lib.sh
. "$HERE/../mount/lib.sh"
fx_setup
fx_require_fuse

RGW_DIR=$FX_TMP/rgw

# shellcheck disable=SC2317 # run by the EXIT trap
interop_cleanup() {
	local rc=$?
	set +u
	# Unmount and delete the run's objects while the server still answers,
	# stop it, then lib.sh removes the scratch directory.
	fx_release
	"$HERE/rgw.sh" stop "$RGW_DIR" >/dev/null 2>&1
	(exit "$rc")
	fx_cleanup
}
trap interop_cleanup EXIT

# ------------------------------------------------------------ s3cmd itself

# Debian's s3cmd, installed like rgw.sh installs Ceph: only when missing,
# serialised with the other test scripts' apt-get runs.
install_s3cmd() {
	command -v s3cmd >/dev/null 2>&1 && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	fx_log "installing Debian's s3cmd (apt-get)"
	(
		flock -w 600 9 || exit 1
		command -v s3cmd >/dev/null 2>&1 && exit 0
		# The package lists may be fresh already (rgw.sh updates them).
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends s3cmd ||
			{ $sudo apt-get update -qq &&
				DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends s3cmd; }
	) 9>/tmp/rustfx-s3-apt.lock >"$FX_TMP/apt.out" 2>&1
	command -v s3cmd >/dev/null 2>&1
}
install_s3cmd ||
	fx_abort "install s3cmd (apt-get install -y --no-install-recommends s3cmd)" "$(tail -n 20 "$FX_TMP/apt.out")"
fx_log "$(s3cmd --version 2>&1)"

FX_S3_START_TIMEOUT=${FX_S3_START_TIMEOUT:-60} "$HERE/rgw.sh" start "$RGW_DIR" >"$FX_TMP/rgw.start" 2>&1 ||
	fx_abort "start radosgw (tests/s3/rgw.sh start)" "$(tail -n 30 "$FX_TMP/rgw.start")"
FX_S3_ENV=$RGW_DIR/env
fx_s3_setup

# s3cmd's configuration: path-style requests (host_bucket without
# %(bucket)s) to 127.0.0.1 over plain HTTP, Signature V4, UTF-8 names
# whatever the caller's locale, no progress meter, bounded sockets.
S3CFG=$FX_TMP/s3cfg
HOSTPORT=${S3_ENDPOINT#http://}
cat >"$S3CFG" <<EOF
[default]
access_key = $S3_ACCESS_KEY
secret_key = $S3_SECRET_KEY
host_base = $HOSTPORT
host_bucket = $HOSTPORT
use_https = False
signature_v2 = False
bucket_location = $S3_REGION
encoding = UTF-8
progress_meter = False
socket_timeout = 30
EOF
chmod 600 "$S3CFG"

# s3c ARGS...: one s3cmd command, bounded.
s3c() { timeout 120 env LC_ALL=C.UTF-8 s3cmd -c "$S3CFG" "$@"; }

# s3uri PATH: the s3:// URI of the object that stands for PATH (under $FX_TMP).
s3uri() { printf 's3://%s/%s\n' "$S3_BUCKET" "$(fx_s3_key "$1")"; }

# s3c_ls [-r] URI: s3cmd ls, one entry a line as "SIZE<TAB>KEY" for an
# object and "DIR<TAB>KEY/" for a common prefix (KEY without s3://BUCKET/).
s3c_ls() {
	local out
	out=$(s3c ls "$@" 2>&1) || {
		printf '%s\n' "$out" >&2
		return 1
	}
	printf '%s\n' "$out" | sed -n \
		-e "s|^ *DIR  s3://$S3_BUCKET/\\(.*\\)\$|DIR\\t\\1|p" \
		-e "s|^[0-9-]\\{10\\} [0-9:]\\{5\\} *\\([0-9][0-9]*\\)  s3://$S3_BUCKET/\\(.*\\)\$|\\1\\t\\2|p"
}

# s3c_info_meta URI: the x-amz-meta-NAME: VALUE lines of s3cmd info, trimmed.
s3c_info_meta() {
	s3c info "$1" 2>&1 | sed -n 's/^ *\(x-amz-meta-[^:]*: .*\)$/\1/p'
}

# s3c_mime URI: the MIME type (Content-Type) that s3cmd info shows.
s3c_mime() { s3c info "$1" 2>&1 | sed -n 's/^ *MIME type: *//p'; }

# shellcheck disable=SC2317 # called through fx_run
# s3c_get URI FILE: s3cmd get to FILE (overwriting), bounded.
s3c_get() { rm -f "$2" && s3c get --force "$1" "$2" >/dev/null; }

# shellcheck disable=SC2317 # called through fx_ok
# wait_for SECONDS CMD...: run CMD every 0.5 s until it succeeds or SECONDS pass.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.5
	done
}

fx_ok "s3cmd reaches rgw on $S3_ENDPOINT with its own SigV4 signer (s3cmd ls s3://$S3_BUCKET)" \
	s3c ls "s3://$S3_BUCKET"

DATA=$FX_TMP/data
mkdir -p "$DATA"
printf 'put by s3cmd\n' >"$DATA/small.txt"
head -c 100000 /dev/urandom >"$DATA/100k.bin"
head -c $((6 * 1024 * 1024 + 77)) /dev/urandom >"$DATA/6m.bin"
head -c $((12 * 1024 * 1024 + 4321)) /dev/urandom >"$DATA/12m.bin"
# Attributes that s3cmd records in x-amz-meta-s3cmd-attrs and rustfx reads
# from there: a 2001 mtime and mode 0600.
touch -d '2001-01-01 00:00:00 UTC' "$DATA/small.txt"
chmod 600 "$DATA/small.txt"
OLD_MTIME=978307200

# The awkward names of part 4, each with its own bytes.
AWK_NAMES=("sp ace.txt" "plus+sign.txt" "a+b c+d.txt" "üñíçødé ☃.txt" "日本語 ファイル.txt")
awk_data() { printf 'awkward name: %s\n' "$1"; }

# ================== 1. s3cmd puts, the mount shows

B1=$FX_TMP/bk-from-s3cmd
M1=$FX_TMP/mnt-from-s3cmd
# NAME:LOCAL-FILE pairs that s3cmd puts under B1.
puts=("small.txt:$DATA/small.txt" "bin/100k.bin:$DATA/100k.bin" "multi/6m.bin:$DATA/6m.bin"
	"deep/er/still/deeper.txt:$DATA/small.txt")
for n in "${AWK_NAMES[@]}"; do
	awk_data "$n" >"$DATA/awk.$n"
	puts+=("$n:$DATA/awk.$n" "nested +ü dir/$n:$DATA/awk.$n")
done
t0=$(date +%s)
for p in "${puts[@]}"; do
	name=${p%%:*} file=${p#*:}
	# 6 MiB in parts of 5 MiB: an object that s3cmd uploads as multipart.
	fx_ok "s3cmd put '$name'" s3c put --multipart-chunk-size-mb=5 "$file" "$(s3uri "$B1/$name")"
done
t1=$(date +%s)
fx_log "s3cmd put ${#puts[@]} objects between $t0 and $t1 (epoch seconds)"

# A third client (tests/s3/s3req.py) says which keys s3cmd stored: exactly
# the names given, not encoded (s3cmd's own ls could hide an encoding slip).
KP1=$(fx_s3_key "$B1")
fx_same_text "the keys s3cmd stored are exactly the names given (LIST by s3req.py)" \
	"$(for p in "${puts[@]}"; do printf '%s/%s\n' "$KP1" "${p%%:*}"; done | LC_ALL=C sort)" \
	"$(fx_s3_list "$KP1/" 2>&1 | cut -f1 | LC_ALL=C sort)"
fx_match "the 6 MiB object is a multipart one (ETag MD5-of-MD5s-2)" \
	"$(fx_s3_list "$KP1/multi/" 2>&1)" $'\t"?[0-9a-f]{32}-2"?\t'
s3cmd_attrs=$(s3c_info_meta "$(s3uri "$B1/small.txt")")
fx_match "s3cmd recorded mtime $OLD_MTIME and mode 0600 in x-amz-meta-s3cmd-attrs" \
	"$s3cmd_attrs" "^x-amz-meta-s3cmd-attrs: .*mode:33152/mtime:$OLD_MTIME(/|$)"

# Another default owner than the test's: an owner taken from s3cmd-attrs shows.
fx_mount "$B1" "$M1" "uid=4242,gid=4242" || fx_finish

# ls -l first on the fresh mount (attributes from the listing + HEADs).
want_top=$(printf '%s\n' small.txt bin multi deep "nested +ü dir" "${AWK_NAMES[@]}" | LC_ALL=C sort)
# shellcheck disable=SC2012 # ls is what is under test
fx_same_text "ls shows every top-level object and prefix s3cmd made" \
	"$want_top" "$(ls -1 "$M1" 2>&1 | LC_ALL=C sort)"
ls_l=$(LC_ALL=C ls -ln --time-style=+%s "$M1" "$M1/bin" "$M1/multi" 2>&1)
size_of() { stat -c %s "$1"; }
for p in "small.txt:$DATA/small.txt" "100k.bin:$DATA/100k.bin" "6m.bin:$DATA/6m.bin"; do
	fx_match "ls -l shows ${p%%:*} as a regular file of $(size_of "${p#*:}") bytes" "$ls_l" \
		"^-[rwx-]{9} +[0-9]+ +[0-9]+ +[0-9]+ +$(size_of "${p#*:}") +[0-9]+ ${p%%:*}\$"
done
want_find=$(
	for p in "${puts[@]}"; do printf '%s\n' "${p%%:*}"; done
	printf '%s\n' bin multi deep deep/er deep/er/still "nested +ü dir"
)
fx_same_text "find lists every object and every implicit directory (no markers)" \
	"$(printf '%s\n' "$want_find" | LC_ALL=C sort)" \
	"$(cd "$M1" && find . -mindepth 1 2>&1 | sed 's|^\./||' | LC_ALL=C sort)"
fx_eq "find -type d finds the 6 implicit directories" 6 \
	"$(find "$M1" -mindepth 1 -type d 2>/dev/null | wc -l)"

for p in "${puts[@]}"; do
	name=${p%%:*} file=${p#*:}
	fx_eq "'$name': stat size is the uploaded size" "$(size_of "$file")" "$(stat -c %s "$M1/$name" 2>&1)"
	fx_ok "'$name': cmp with the file s3cmd uploaded" cmp "$file" "$M1/$name"
done

# mode, owner and mtime: what s3cmd recorded in x-amz-meta-s3cmd-attrs (the
# object has no s3fs names), not the mount's umask and the upload time.
fx_eq "mode of an s3cmd object is s3cmd's recorded 600, not the mount's umask (644)" \
	"600" "$(stat -c %a "$M1/small.txt" 2>&1)"
fx_eq "mtime of an s3cmd object is s3cmd's recorded $OLD_MTIME, not its upload time" \
	"$OLD_MTIME" "$(stat -c %Y "$M1/small.txt" 2>&1)"
fx_eq "owner of an s3cmd object is s3cmd's recorded uid/gid, not the default 4242" \
	"$(id -u) $(id -g)" \
	"$(stat -c '%u %g' "$M1/small.txt" 2>&1)"

# chmod and rename of an s3cmd object through the mount: rustfx rewrites the
# metadata but keeps the header s3cmd wrote (a copy with REPLACE that drops
# x-amz-meta-s3cmd-attrs would silently lose s3cmd's attributes).
mime_small=$(s3c_mime "$(s3uri "$B1/small.txt")")
mime_100k=$(s3c_mime "$(s3uri "$B1/bin/100k.bin")")
fx_ok "chmod 640 of the s3cmd object through the mount" chmod 640 "$M1/small.txt"
meta=$(s3c_info_meta "$(s3uri "$B1/small.txt")")
fx_match "s3cmd info shows x-amz-meta-mode: 33184 (0100640) after chmod" "$meta" '^x-amz-meta-mode: 33184$'
fx_match "... and x-amz-meta-mtime: $OLD_MTIME (s3cmd's, carried over)" "$meta" \
	"^x-amz-meta-mtime: $OLD_MTIME(\\.0+)?\$"
fx_eq "... and the mount shows 640: s3fs's mode wins over s3cmd-attrs' 600" \
	"640" "$(stat -c %a "$M1/small.txt" 2>&1)"
fx_match "... and still shows s3cmd's own x-amz-meta-s3cmd-attrs" "$meta" \
	"^x-amz-meta-s3cmd-attrs: .*mtime:$OLD_MTIME"
# CopyObject with x-amz-metadata-directive REPLACE replaces the Content-Type
# too unless the request carries it again.
fx_eq "... and keeps the Content-Type s3cmd set (s3cmd info MIME type)" \
	"${mime_small:-<s3cmd info showed none>}" "$(s3c_mime "$(s3uri "$B1/small.txt")")"
fx_ok "mv of an s3cmd object through the mount" mv "$M1/bin/100k.bin" "$M1/bin/moved.bin"
meta=$(s3c_info_meta "$(s3uri "$B1/bin/moved.bin")")
fx_match "s3cmd info of the moved object still shows x-amz-meta-s3cmd-attrs" "$meta" \
	'^x-amz-meta-s3cmd-attrs: '
fx_eq "... and its Content-Type" "${mime_100k:-<s3cmd info showed none>}" \
	"$(s3c_mime "$(s3uri "$B1/bin/moved.bin")")"
fx_run s3c_get "$(s3uri "$B1/bin/moved.bin")" "$FX_TMP/get.moved"
fx_ok "s3cmd get of the moved object is byte-identical" cmp "$DATA/100k.bin" "$FX_TMP/get.moved"
fx_umount "$M1"

# ================== 2. the mount writes, s3cmd reads

B2=$FX_TMP/bk-from-mount
M2=$FX_TMP/mnt-from-mount
fx_mount "$B2" "$M2" "multipart_threshold=5M,part_size=5M" || fx_finish
printf 'written through rustfx\n' >"$DATA/m-small.txt"
fx_ok "write a small file through the mount" cp "$DATA/m-small.txt" "$M2/small.txt"
fx_ok "write 100 KiB through the mount" cp "$DATA/100k.bin" "$M2/100k.bin"
fx_ok "write 12 MiB through the mount (multipart_threshold=5M,part_size=5M)" cp "$DATA/12m.bin" "$M2/big.bin"
fx_ok "mkdir emptydir through the mount" mkdir "$M2/emptydir"
fx_ok "mkdir -p dir/sub and a file in it through the mount" bash -c \
	"mkdir -p '$M2/dir/sub' && cp '$DATA/m-small.txt' '$M2/dir/sub/f.txt'"
fx_ok "empty file through the mount" touch "$M2/empty"
for n in "${AWK_NAMES[@]}"; do
	awk_data "$n" >"$DATA/awk.$n"
	awk_data "$n" >"$M2/$n" || fx_fail "write '$n' through the mount"
done

ls2=$(s3c_ls "$(s3uri "$B2")/" 2>&1)
KP2=$(fx_s3_key "$B2")
want_ls2=$(
	printf '%s\t%s\n' "$(size_of "$DATA/m-small.txt")" "$KP2/small.txt" \
		100000 "$KP2/100k.bin" "$(size_of "$DATA/12m.bin")" "$KP2/big.bin" 0 "$KP2/empty"
	for n in "${AWK_NAMES[@]}"; do printf '%s\t%s\n' "$(size_of "$DATA/awk.$n")" "$KP2/$n"; done
	printf 'DIR\t%s/\n' "$KP2/emptydir" "$KP2/dir"
)
fx_same_text "s3cmd ls lists every file with its size, and the directories as DIR prefixes" \
	"$(printf '%s\n' "$want_ls2" | LC_ALL=C sort)" "$(printf '%s\n' "$ls2" | LC_ALL=C sort)"
fx_match "s3cmd ls -r shows the marker object of the empty directory mkdir made (0 bytes)" \
	"$(s3c_ls -r "$(s3uri "$B2/emptydir")/" 2>&1)" "^0	$KP2/emptydir/\$"
fx_match "s3cmd ls of dir/ shows sub/ as a DIR prefix" \
	"$(s3c_ls "$(s3uri "$B2/dir")/" 2>&1)" "^DIR	$KP2/dir/sub/\$"

get_err=""
for p in "small.txt:$DATA/m-small.txt" "100k.bin:$DATA/100k.bin" "big.bin:$DATA/12m.bin" \
	"dir/sub/f.txt:$DATA/m-small.txt"; do
	name=${p%%:*} file=${p#*:}
	got=$FX_TMP/get.2.${name//\//_}
	fx_run s3c_get "$(s3uri "$B2/$name")" "$got"
	get_err=$get_err$FX_ERR
	if [ "$FX_RC" -eq 0 ]; then
		fx_same_file "s3cmd get '$name' (written through the mount) is byte-identical" "$file" "$got"
	else
		fx_fail "s3cmd get '$name' (written through the mount)" "$(fx_ctx)"
	fi
done
fx_nomatch "s3cmd get printed no warning (no MD5 mismatch, not even for the multipart ETag)" \
	"$get_err" 'MD5|WARNING|ERROR'
info=$(s3c info "$(s3uri "$B2/big.bin")" 2>&1)
fx_match "s3cmd info: the 12 MiB object has its full size" "$info" \
	"^ *File size: $(size_of "$DATA/12m.bin")\$"
fx_match "... and is a multipart object (ETag MD5-of-MD5s-3)" \
	"$(fx_s3_list "$KP2/big.bin" 2>&1)" $'\t"?[0-9a-f]{32}-3"?\t'
# A file's Content-Type must not depend on whether it was uploaded in parts.
fx_eq "s3cmd info: the 12 MiB (multipart) object has the Content-Type of the 100 KiB one" \
	"$(s3c_mime "$(s3uri "$B2/100k.bin")")" "$(s3c_mime "$(s3uri "$B2/big.bin")")"
fx_eq "no multipart upload is left in progress (s3cmd multipart list)" "" \
	"$(s3c multipart "s3://$S3_BUCKET" 2>&1 | grep -F "$FX_S3_PREFIX/")"

# touch -d through the mount: the mtime rustfx stores is what s3cmd sees.
fx_ok "touch -d 2001-01-01 of a file through the mount" touch -d '2001-01-01 00:00:00 UTC' "$M2/100k.bin"
fx_match "s3cmd info shows x-amz-meta-mtime: $OLD_MTIME" \
	"$(s3c_info_meta "$(s3uri "$B2/100k.bin")")" "^x-amz-meta-mtime: $OLD_MTIME(\\.0+)?\$"

# ================== 3. rename and chmod through the mount, seen by s3cmd

fx_ok "mv small.txt renamed.txt through the mount" mv "$M2/small.txt" "$M2/renamed.txt"
ls3=$(s3c_ls "$(s3uri "$B2")/" 2>&1)
fx_nomatch "s3cmd ls: the old key small.txt is gone" "$ls3" $'\t'"$KP2/small.txt\$"
fx_match "s3cmd ls: the new key renamed.txt is there with its size" "$ls3" \
	"^$(size_of "$DATA/m-small.txt")	$KP2/renamed.txt\$"
fx_not "s3cmd info of the old key fails (404)" s3c info "$(s3uri "$B2/small.txt")"
fx_run s3c_get "$(s3uri "$B2/renamed.txt")" "$FX_TMP/get.renamed"
fx_ok "s3cmd get of the renamed key is byte-identical" cmp "$DATA/m-small.txt" "$FX_TMP/get.renamed"

fx_ok "mv dir dir2 (a directory with a marker, a subdirectory and a file)" mv "$M2/dir" "$M2/dir2"
lsr=$(s3c_ls -r "$(s3uri "$B2")/" 2>&1)
fx_nomatch "s3cmd ls -r: no key is left under dir/" "$lsr" $'\t'"$KP2/dir/"
fx_match "s3cmd ls -r: dir2/sub/f.txt is there" "$lsr" $'\t'"$KP2/dir2/sub/f.txt\$"

fx_ok "chmod 600 renamed.txt through the mount" chmod 600 "$M2/renamed.txt"
fx_ok "chmod 750 big.bin through the mount" chmod 750 "$M2/big.bin"
fx_match "s3cmd info renamed.txt shows x-amz-meta-mode: 33152 (0100600)" \
	"$(s3c_info_meta "$(s3uri "$B2/renamed.txt")")" '^x-amz-meta-mode: 33152$'
fx_match "s3cmd info big.bin shows x-amz-meta-mode: 33256 (0100750)" \
	"$(s3c_info_meta "$(s3uri "$B2/big.bin")")" '^x-amz-meta-mode: 33256$'
fx_run s3c_get "$(s3uri "$B2/big.bin")" "$FX_TMP/get.big2"
fx_ok "after chmod (a copy onto itself) s3cmd still gets the 12 MiB byte-identical" \
	cmp "$DATA/12m.bin" "$FX_TMP/get.big2"

# ================== 4. awkward keys, both ways

# mount -> s3cmd: exact keys in s3cmd's listing, exact bytes from s3cmd get.
for n in "${AWK_NAMES[@]}"; do
	fx_match "s3cmd ls has the exact key '$n' (written through the mount)" "$ls3" \
		"^[0-9]+	$(printf '%s' "$KP2/$n" | sed 's/[][\.*^$?+(){}|/]/\\&/g')\$"
	got=$FX_TMP/get.awk.$n
	fx_run s3c_get "$(s3uri "$B2/$n")" "$got"
	if [ "$FX_RC" -eq 0 ] && cmp -s "$DATA/awk.$n" "$got"; then
		fx_pass "s3cmd get '$n' (written through the mount) is byte-identical"
	else
		fx_fail "s3cmd get '$n' (written through the mount) is byte-identical" "$(fx_ctx)" \
			"cmp: $(cmp "$DATA/awk.$n" "$got" 2>&1)"
	fi
done
fx_nomatch "no key written through the mount is percent-encoded" \
	"$(fx_s3_list "$KP2/" 2>&1 | cut -f1)" '%[0-9A-Fa-f]{2}'
fx_umount "$M2"

# s3cmd -> mount: the names put in part 1, read back through a new mount
# (fresh cache), and a live mount that sees s3cmd's put and del at once.
M4=$FX_TMP/mnt-live
fx_mount "$B1" "$M4" "attr_timeout=0,entry_timeout=0,negative_timeout=0" "$FX_TMP/cache-live" || fx_finish
for n in "${AWK_NAMES[@]}"; do
	fx_eq "cat '$n' (put by s3cmd) through a fresh mount" "$(awk_data "$n")" "$(cat "$M4/$n" 2>&1)"
	fx_eq "cat 'nested +ü dir/$n' (put by s3cmd)" "$(awk_data "$n")" "$(cat "$M4/nested +ü dir/$n" 2>&1)"
done
live="live + ü ☃ key.txt"
printf 'put while mounted\n' >"$DATA/live.txt"
fx_ok "s3cmd put '$live' while the mount is up" s3c put "$DATA/live.txt" "$(s3uri "$B1/$live")"
fx_ok "the live mount (attr/entry_timeout=0) lists '$live' within 15 s" \
	wait_for 15 bash -c "ls -1 '$M4' | grep -Fxq -- '$live'"
fx_eq "... and reads its bytes" "put while mounted" "$(cat "$M4/$live" 2>&1)"
fx_ok "s3cmd del '$live'" s3c del "$(s3uri "$B1/$live")"
fx_ok "the live mount no longer shows '$live' within 15 s" \
	wait_for 15 bash -c "! ls -1 '$M4' | grep -Fxq -- '$live' && ! test -e '$M4/$live'"
fx_umount "$M4"

fx_finish
