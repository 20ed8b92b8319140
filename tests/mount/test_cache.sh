#!/usr/bin/env bash
#
# test_cache.sh - the persistent block cache under a real mount (file://):
# reads come back right the first and the second time and leave block files;
# a corrupted block is caught and fetched again; the size cap holds while
# parallel readers fill the cache; a remount reads from the cache without
# the backend; an object changed in the bucket is read new, never old; a
# kill -9 while filling leaves a cache that verifies clean; sealed blocks
# hide their plaintext and the key file is checked; `rustfx cache verify`
# and `rustfx cache clear` (busy while mounted, never touching staging/);
# the smallest memory budget still serves parallel readers; bad cache
# options are refused with a hint.
#
# The cache is looked at directly on disk (CACHE_DIR/<16 hex>/blocks,
# staging) and through MOUNTPOINT/.rustfx/stats (backend requests, cache
# hits). file:// only: the checks change backing files behind rustfx's back.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse
if fx_s3; then
	echo "SKIP: test_cache.sh plants and corrupts files on disk (file:// only)"
	exit 77
fi

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
DATA=$FX_TMP/data
MB=$((1024 * 1024))
# A 1M block file: an 80-byte header, one 8-byte checksum per 16K chunk,
# zeros up to 4096, then the chunks (each 16 bytes longer when sealed).
CHUNKS=$((MB / (16 * 1024)))
DATA_OFF=$(((80 + CHUNKS * 8 + 4095) / 4096 * 4096))
BLOCK_FILE=$((DATA_OFF + MB))
mkdir -p "$BUCKET" "$DATA"
head -c $((20 * MB)) /dev/urandom >"$DATA/rand20m"
cp "$DATA/rand20m" "$BUCKET/big.bin"
# Every mount leaves the free-space floor out of it: this machine's free
# space must not decide what is cached.
BASE_OPTS=cache_min_free=0

# store_of CACHE_DIR: the store (the subdirectory holding index.mdb).
store_of() {
	local idx
	idx=$(find "$1" -mindepth 2 -maxdepth 2 -name index.mdb 2>/dev/null | head -n 1)
	[ -n "$idx" ] && dirname "$idx"
}

# block_files STORE: the block files, one a line, sorted.
block_files() { find "$1/blocks" -type f 2>/dev/null | LC_ALL=C sort; }
count_files() { find "$@" -type f 2>/dev/null | wc -l; }
# bytes_of DIR...: bytes of the regular files below (what du -b counts of them).
bytes_of() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

# flip_byte FILE OFFSET: invert every bit of one byte in place.
flip_byte() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

# has_bytes FILE NEEDLE-FILE: FILE holds the bytes of NEEDLE-FILE somewhere.
# shellcheck disable=SC2317 # called through fx_not
has_bytes() {
	python3 -c 'import sys
sys.exit(0 if open(sys.argv[2], "rb").read() in open(sys.argv[1], "rb").read() else 1)' "$1" "$2"
}


# mount_fails DESC WANT-RC CACHE OPTS: a mount that must be refused before it
# mounts: exit WANT-RC, an error and a hint on stderr (kept in FX_ERR).
mount_fails() {
	local desc=$1 want=$2 cache=$3 opts=$4
	fx_status "$desc" "$want" timeout 20 "$RUSTFX_BIN" mount -f \
		-o "cache_dir=$cache,$BASE_OPTS,$opts" "file://$BUCKET" "$MNT"
	fx_match "$desc: says why" "$FX_ERR" '^error: '
	fx_match "$desc: gives a hint" "$FX_ERR" '^hint: '
}

# ------------------------------------------------------ (a) read twice

CACHE=$FX_TMP/cache
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
fx_ok "a 20 MB file reads right the first time" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_ok "and the second time" cmp "$DATA/rand20m" "$MNT/big.bin"
STORE=$(store_of "$CACHE")
fx_ok "the cache has a store per backend (<cache_dir>/<16 hex>/index.mdb)" \
	bash -c "[[ '${STORE##*/}' =~ ^[0-9a-f]{16}$ ]]"
fx_eq "the store holds the file's 20 blocks" 20 "$(count_files "$STORE/blocks")"
fx_eq "blocks live in blocks/XX/<32 hex>" "" \
	"$(block_files "$STORE" | grep -Ev '/blocks/([0-9a-f]{2})/\1[0-9a-f]{30}$')"
fx_umount "$MNT"
fx_eq "unmount exits 0" 0 "$FX_DAEMON_RC"
fx_ok "there is no tmp/: blocks are written in place" test ! -e "$STORE/tmp"

# --------------------------------- (a2) written around the page cache
# The files of blocks fetched by readahead are written with O_DIRECT where
# the cache filesystem allows it (the kernel keeps the mounted file's pages;
# a second copy in the page cache would only cost a pass over the bytes):
# after a cold sequential read, their pages are not resident. ramfs refuses
# O_DIRECT: there the store writes through the page cache, and the blocks
# read back the same.
if [ "$(stat -f -c %T "$FX_TMP")" != tmpfs ]; then
	fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$FX_TMP/cache-direct" || fx_finish
	fx_ok "a cold read into a new cache" cmp "$DATA/rand20m" "$MNT/big.bin"
	fx_umount "$MNT"
	resident=$(find "$(store_of "$FX_TMP/cache-direct")/blocks" -type f -print0 |
		xargs -0 fincore -b -n -o RES | awk '{ s += $1 } END { print s + 0 }')
	# The first blocks are the reader's own (the kernel asks for up to its
	# 8 MiB window at once, before readahead queued them): those go through
	# the page cache. Written all through it, the 20 blocks would be resident.
	fx_ok "... wrote its block files around the page cache ($resident bytes of them resident)" \
		test "$resident" -le $((10 * MB))

	# Random reads: the blocks asked for by a reader go through the page
	# cache, where the next reads of their other bytes find them.
	fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$FX_TMP/cache-random" || fx_finish
	fx_ok "4 KiB reads in blocks 3, 9 and 15, O_DIRECT (no readahead)" bash -c "
		for b in 3 9 15; do
			dd if='$MNT/big.bin' of=/dev/null bs=4096 count=1 skip=\$((b * 256)) iflag=direct status=none || exit 1
		done"
	fx_umount "$MNT"
	resident=$(find "$(store_of "$FX_TMP/cache-random")/blocks" -type f -print0 |
		xargs -0 fincore -b -n -o RES | awk '{ s += $1 } END { print s + 0 }')
	fx_ok "... wrote those blocks' files through the page cache ($resident bytes resident)" \
		test "$resident" -ge $((3 * MB))
fi
RAMFS=$FX_TMP/ramfs
mkdir -p "$RAMFS"
if mount -t ramfs ramfs "$RAMFS"; then
	fx_ok "ramfs refuses O_DIRECT (the case under test)" \
		bash -c "! dd if=/dev/zero of='$RAMFS/probe' bs=4096 count=1 oflag=direct 2>/dev/null"
	rm -f "$RAMFS/probe"
	fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$RAMFS/cache" || fx_finish
	fx_ok "with cache_dir on ramfs the file reads right" cmp "$DATA/rand20m" "$MNT/big.bin"
	fx_umount "$MNT"
	fx_eq "... and its 20 blocks are stored" 20 "$(count_files "$(store_of "$RAMFS/cache")/blocks")"
	fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$RAMFS/cache" || fx_finish
	fx_ok "... and read back right after a remount" cmp "$DATA/rand20m" "$MNT/big.bin"
	fx_eq "... from the cache alone" "0 0" \
		"$(fx_stat "$MNT" requests.get.calls) $(fx_stat "$MNT" cache.checksum_failures)"
	fx_umount "$MNT"
	umount "$RAMFS"
else
	fx_fail "mount a ramfs (a cache filesystem without O_DIRECT)" "mount -t ramfs failed"
fi

# ----------------------------------------- (d) a remount reads the cache

before=$(find "$STORE/blocks" -type f -printf '%p %s %T@\n' | LC_ALL=C sort)
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
fx_ok "after a remount the file reads right" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_eq "after a remount no block is fetched from the backend" 0 \
	"$(fx_stat "$MNT" requests.get.calls)"
# Bytes a page-cache fill put into the kernel are not read through the daemon again.
fx_ok "the blocks came from the cache" test \
	$(($(fx_stat "$MNT" cache.bytes_from_cache) + $(fx_stat "$MNT" cache.bytes_to_page_cache))) \
	-ge $((20 * MB))
fx_same_text "no block file was written again or added" "$before" \
	"$(find "$STORE/blocks" -type f -printf '%p %s %T@\n' | LC_ALL=C sort)"
fx_match "rustfx stats MOUNTPOINT sums the counters up" "$("$RUSTFX_BIN" stats "$MNT" 2>&1)" \
	'^cache .* hit ratio 1\.00'
fx_eq "rustfx stats --json gives the stats file's document" \
	"$(fx_stat "$MNT" cache.hits)" \
	"$("$RUSTFX_BIN" stats --json "$MNT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cache"]["hits"])')"
fx_run "$RUSTFX_BIN" stats "$FX_TMP"
fx_eq "rustfx stats of a directory that is no mount fails as bad input" 2 "$FX_RC"
fx_umount "$MNT"
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,control_dir=.fxctl" "$CACHE" || fx_finish
fx_ok "control_dir=.fxctl serves .fxctl/stats" test -r "$MNT/.fxctl/stats"
fx_not "... and no .rustfx" test -e "$MNT/.rustfx/stats"
fx_match "rustfx stats finds it through the configuration (RUSTFX_MOUNT_CONTROL_DIR)" \
	"$(RUSTFX_MOUNT_CONTROL_DIR=.fxctl "$RUSTFX_BIN" stats "$MNT" 2>&1)" '^cache '
fx_umount "$MNT"

# ------------------------------------------------ (b) a corrupted block

victim=$(block_files "$STORE" | sed -n 7p)
flip_byte "$victim" $((DATA_OFF + 4096))
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
fx_ok "a corrupted block: the file still reads right" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_match "the log names the block that failed its checksum" "$(cat "$FX_LAST_LOG")" \
	"cache block ${victim##*/} failed its checksum"
fx_ok "the stats count the checksum failure" test "$(fx_stat "$MNT" cache.checksum_failures)" -ge 1
# Two kernel reads inside the one block may both see it fail and fetch it.
fx_ok "only that block was fetched again" test "$(fx_stat "$MNT" requests.get.calls)" -le 2
fx_umount "$MNT"
fx_eq "the block is back, whole" "$BLOCK_FILE" "$(stat -c %s "$victim" 2>&1)"

# --------------------------------- (e) an object changed while unmounted

old_blocks=$(block_files "$STORE")
head -c $((20 * MB)) /dev/urandom >"$DATA/rand20m.new"
cp "$DATA/rand20m.new" "$BUCKET/big.bin" # same size, same inode, new bytes
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
fx_ok "an object changed in the bucket reads new" cmp "$DATA/rand20m.new" "$MNT/big.bin"
fx_eq "the stats count 20 stale blocks dropped" 20 "$(fx_stat "$MNT" cache.stale_dropped)"
fx_umount "$MNT"
fx_eq "no block file of the old version is left" "" \
	"$(comm -12 <(printf '%s\n' "$old_blocks") <(block_files "$STORE"))"
fx_eq "the new version's 20 blocks are cached" 20 "$(count_files "$STORE/blocks")"
cp "$DATA/rand20m.new" "$DATA/rand20m"

# ---------------------------------------- (c) the cap under parallel reads

CAP_CACHE=$FX_TMP/cache-cap
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,cache_size=8M,block_size=1M" "$CAP_CACHE" || fx_finish
CAP_STORE=$(store_of "$CAP_CACHE")
# The sampler runs until told to stop and prints "MAX SAMPLES".
sample_cache() {
	local max=0 n=0 now
	while [ ! -e "$FX_TMP/stop-sampling" ]; do
		now=$(bytes_of "$CAP_STORE/blocks")
		((now > max)) && max=$now
		n=$((n + 1))
		sleep 0.01
	done
	echo "$max $n"
}
sample_cache >"$FX_TMP/samples" &
sampler=$!
# Three rounds of four readers, each of its own 10 MB file: 120 MB through 8M.
for round in 1 2 3; do
	pids=()
	for i in 1 2 3 4; do
		head -c $((10 * MB)) /dev/urandom >"$BUCKET/ten$round$i.bin"
	done
	for i in 1 2 3 4; do
		cmp "$BUCKET/ten$round$i.bin" "$MNT/ten$round$i.bin" >"$FX_TMP/cmp$i" 2>&1 &
		pids+=($!)
	done
	got=""
	for i in 1 2 3 4; do
		wait "${pids[$((i - 1))]}"
		got+="$? $(cat "$FX_TMP/cmp$i")"
	done
	fx_eq "round $round: four parallel readers under an 8M cap read their 10 MB right" \
		"0 0 0 0 " "$got"
done
touch "$FX_TMP/stop-sampling"
wait "$sampler"
read -r max samples <"$FX_TMP/samples"
fx_log "cache bytes on disk: max $max over $samples samples"
# The store's own bound: the cap, plus one block in flight per reader.
limit=$((8 * MB + 4 * BLOCK_FILE))
fx_ok "the cache never grew past the cap plus blocks in flight ($max <= $limit)" \
	test "$max" -le "$limit"
fx_ok "the sampling saw the cache fill (max $max > 4M)" test "$max" -gt $((4 * MB))
final=$(bytes_of "$CAP_STORE/blocks")
fx_ok "the cache ends under the cap ($final <= 8M)" test "$final" -le $((8 * MB))
fx_ok "and blocks were evicted to stay there" test "$(fx_stat "$MNT" cache.evictions)" -gt 0
fx_umount "$MNT"

# ----------------------------------------- (f) kill -9 while filling

head -c $((200 * MB)) /dev/urandom >"$BUCKET/huge.bin"
KILL_CACHE=$FX_TMP/cache-kill
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$KILL_CACHE" || fx_finish
KILL_STORE=$(store_of "$KILL_CACHE")
cat "$MNT/huge.bin" >/dev/null 2>&1 &
reader=$!
for ((i = 0; i < 500; i++)); do
	[ "$(count_files "$KILL_STORE/blocks")" -ge 5 ] && break
	sleep 0.01
done
pid=$FX_LAST_PID
kill -KILL "$pid"
{ wait "$pid"; } 2>/dev/null
fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
wait "$reader" 2>/dev/null
filled=$(count_files "$KILL_STORE/blocks")
fx_log "killed with $filled of 200 block files written"
fx_ok "the daemon was killed while the cache was filling" test "$filled" -lt 200
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$KILL_CACHE" || fx_finish
fx_log "at the remount: $(fx_stat "$MNT" cache.adopted_at_mount) block files adopted," \
	"$(fx_stat "$MNT" cache.dropped_at_mount) dropped"
fx_ok "after kill -9 and remount the file reads right" cmp "$BUCKET/huge.bin" "$MNT/huge.bin"
fx_umount "$MNT"
fx_status "rustfx cache verify after kill -9 exits 0" 0 "$RUSTFX_BIN" cache verify "$KILL_CACHE"
fx_match "verify reports 0 corrupt blocks" "$FX_OUT" "^$KILL_STORE: 200 blocks, [0-9]+ bytes, 0 corrupt"
rm -f "$BUCKET/huge.bin"

# ---------------------------------------------------- (g) sealed blocks

PATTERN='rustfx-cache-test: this 64-byte line must never reach the disk!!'
fx_eq "the plaintext pattern is 64 bytes" 64 "${#PATTERN}"
yes "$PATTERN" | tr -d '\n' | head -c $((3 * MB)) >"$DATA/pattern"
cp "$DATA/pattern" "$BUCKET/pattern.txt"
KEY=$FX_TMP/cache.key
head -c 32 /dev/urandom >"$KEY"
chmod 600 "$KEY"

# Control: without a key the pattern is in the block files, so the search works.
PLAIN_CACHE=$FX_TMP/cache-plain
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$PLAIN_CACHE" || fx_finish
fx_ok "unsealed: the pattern file reads right" cmp "$DATA/pattern" "$MNT/pattern.txt"
fx_umount "$MNT"
fx_ok "unsealed block files hold the plaintext (the search works)" \
	grep -rqF "$PATTERN" "$(store_of "$PLAIN_CACHE")/blocks"

SEAL_CACHE=$FX_TMP/cache-sealed
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,cache_key_file=$KEY" "$SEAL_CACHE" || fx_finish
fx_ok "sealed: the pattern file reads right" cmp "$DATA/pattern" "$MNT/pattern.txt"
fx_ok "sealed: a random file reads right" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_umount "$MNT"
SEAL_STORE=$(store_of "$SEAL_CACHE")
fx_eq "sealed: 23 blocks cached" 23 "$(count_files "$SEAL_STORE/blocks")"
fx_not "sealed block files do not hold the plaintext" grep -rqF "$PATTERN" "$SEAL_STORE/blocks"
fx_not "not even 16 bytes of it" grep -rqF "${PATTERN:0:16}" "$SEAL_STORE/blocks"
fx_not "the index does not hold the key" has_bytes "$SEAL_STORE/index.mdb" "$KEY"

for victim in $(block_files "$SEAL_STORE"); do
	flip_byte "$victim" $((DATA_OFF + 1000))
done
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,cache_key_file=$KEY" "$SEAL_CACHE" || fx_finish
fx_ok "sealed, every block tampered: the files still read right" \
	cmp "$DATA/pattern" "$MNT/pattern.txt"
fx_ok "and the random one" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_match "the log warns that blocks failed their check" "$(cat "$FX_LAST_LOG")" \
	'cache block [0-9a-f]{32} failed its authentication or checksum'
failed=$(grep -oE 'cache block [0-9a-f]{32} failed' "$FX_LAST_LOG")
fx_eq "every tampered block was caught" 23 "$(printf '%s\n' "$failed" | sort -u | wc -l)"
fx_log "$(printf '%s\n' "$failed" | wc -l) failure warnings; stats: $(fx_stat "$MNT" cache.checksum_failures)"
fx_umount "$MNT"

OTHER_KEY=$FX_TMP/other.key
head -c 32 /dev/urandom >"$OTHER_KEY"
chmod 600 "$OTHER_KEY"
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,cache_key_file=$OTHER_KEY" "$SEAL_CACHE" || fx_finish
fx_ok "another key: the files still read right" cmp "$DATA/pattern" "$MNT/pattern.txt"
fx_eq "another key: the old key's blocks were dropped, not tried" 0 \
	"$(fx_stat "$MNT" cache.checksum_failures)"
fx_ok "another key: the blocks are fetched again" \
	test "$(fx_stat "$MNT" requests.get.bytes)" -ge "$(stat -c %s "$DATA/pattern")"
fx_umount "$MNT"

chmod 644 "$KEY"
mount_fails "a key file readable by others is refused" 2 "$SEAL_CACHE" "cache_key_file=$KEY"
fx_match "the hint says chmod 600" "$FX_ERR" 'chmod 600'
chmod 600 "$KEY"
head -c 31 /dev/urandom >"$FX_TMP/short.key"
chmod 600 "$FX_TMP/short.key"
mount_fails "a 31-byte key file is refused" 2 "$SEAL_CACHE" "cache_key_file=$FX_TMP/short.key"
fx_match "the error says 32 bytes" "$FX_ERR" '32 bytes'
# A missing input file is EX_NOINPUT (66), as everywhere in rustfx.
mount_fails "a missing key file is refused" 66 "$SEAL_CACHE" "cache_key_file=$FX_TMP/nokey"

# ------------------------------------------------- (h) verify and clear

fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
cat "$MNT/big.bin" >/dev/null
fx_status "cache clear while mounted is refused (exit 1)" 1 "$RUSTFX_BIN" cache clear "$CACHE"
fx_match "it says the store is in use" "$FX_ERR" '^error: .*in use'
fx_match "and to unmount first" "$FX_ERR" '^hint: unmount first'
fx_status "cache verify while mounted is refused (exit 1)" 1 "$RUSTFX_BIN" cache verify "$STORE"
fx_ok "the mount still reads after the refusals" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_umount "$MNT"

fx_status "cache verify of a good cache exits 0" 0 "$RUSTFX_BIN" cache verify "$CACHE"
fx_match "one line per store, from the top cache_dir" "$FX_OUT" \
	"^$STORE: [0-9]+ blocks, [0-9]+ bytes, 0 corrupt dropped, 0 adopted, 0 dropped entries$"
victim=$(block_files "$STORE" | head -n 1)
flip_byte "$victim" $((DATA_OFF + 100))
fx_status "cache verify of a store with a corrupt block exits 1" 1 \
	"$RUSTFX_BIN" cache verify "$STORE"
fx_match "verify reports 1 corrupt block" "$FX_OUT" "^$STORE: [0-9]+ blocks, [0-9]+ bytes, 1 corrupt dropped"
fx_ok "the corrupt block is gone" test ! -e "$victim"
fx_status "cache verify --json exits 0 once repaired" 0 "$RUSTFX_BIN" cache verify --json "$STORE"
fx_eq "cache verify --json reports the store" "$STORE 0" "$(printf '%s' "$FX_OUT" |
	python3 -c 'import json, sys; r = json.load(sys.stdin)[0]; print(r["dir"], r["corrupt"])' 2>&1)"
fx_status "cache verify of a directory that is no cache exits 2" 2 "$RUSTFX_BIN" cache verify "$DATA"
fx_match "it says why" "$FX_ERR" 'not a rustfx cache directory'
fx_status "cache verify of a missing directory exits 2" 2 "$RUSTFX_BIN" cache verify "$FX_TMP/none"

mkdir -p "$STORE/staging"
printf 'not uploaded yet\n' >"$STORE/staging/stage-test"
fx_ok "cache --help says staged writes are kept" bash -c \
	"'$RUSTFX_BIN' cache --help | grep -q 'staging/) are never touched'"
fx_status "cache clear of an unmounted cache exits 0" 0 "$RUSTFX_BIN" cache clear "$CACHE"
fx_match "clear says what it kept" "$FX_OUT" "^$STORE: cleared \(staging/ kept: 1 unuploaded file\)"
fx_eq "clear removed every block" 0 "$(count_files "$STORE/blocks")"
fx_ok "clear removed the index" test ! -e "$STORE/index.mdb"
fx_eq "clear left the staged write alone" "not uploaded yet" "$(cat "$STORE/staging/stage-test" 2>&1)"
rm -f "$STORE/staging/stage-test"
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS" "$CACHE" || fx_finish
fx_ok "after clear the mount reads right" cmp "$DATA/rand20m" "$MNT/big.bin"
fx_ok "after clear every block is fetched again" test "$(fx_stat "$MNT" requests.get.bytes)" -ge $((20 * MB))
fx_umount "$MNT"
fx_eq "and cached again" 20 "$(count_files "$STORE/blocks")"

# ------------------------------------------------ (i) bad cache options

mount_fails "block_size=100K is refused" 2 "$CACHE" "block_size=100K"
fx_match "the hint says a multiple of 64K" "$FX_ERR" '64K'
mount_fails "cache_policy=nope is refused" 2 "$CACHE" "cache_policy=nope"
fx_match "the hint lists lru" "$FX_ERR" '^hint: .*lru'
fx_match "the hint lists s3fifo" "$FX_ERR" '^hint: .*s3fifo'
mount_fails "prefetch=sometimes is refused" 2 "$CACHE" "prefetch=sometimes"

# ------------------------------------------ (j) the smallest memory budget

# memory_limit=1M holds one 1M fetch buffer: readers whose reads straddle
# block boundaries at different offsets must still all finish.
fx_mount "$BUCKET" "$MNT" "$BASE_OPTS,memory_limit=1M,block_size=1M,prefetch=off" \
	"$FX_TMP/cache-memory" || fx_finish
pids=()
for i in 0 1 2 3 4 5 6 7; do
	dd if="$MNT/big.bin" of="$FX_TMP/dd$i" bs=$((192 * 1024)) skip=$((i * 7)) \
		iflag=skip_bytes status=none 2>/dev/null &
	pids+=($!)
done
# A reader stuck on a hung daemon sleeps uninterruptibly (it cannot even be
# killed) until the daemon goes: after 20 s the daemon is killed for it.
for ((i = 0; i < 200; i++)); do
	alive=0
	for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	[ "$alive" -eq 0 ] && break
	sleep 0.1
done
fx_eq "memory_limit=1M: eight parallel readers finish within 20 s" 0 "$alive"
if [ "$alive" -gt 0 ]; then
	kill -KILL "$FX_LAST_PID"
	{ wait "$FX_LAST_PID"; } 2>/dev/null
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
fi
got=""
for i in 0 1 2 3 4 5 6 7; do
	wait "${pids[$i]}"
	got+="$? "
done
fx_eq "memory_limit=1M: every reader succeeds" "0 0 0 0 0 0 0 0 " "$got"
fx_ok "memory_limit=1M: what they read is right" \
	cmp "$FX_TMP/dd3" <(tail -c +$((3 * 7 + 1)) "$DATA/rand20m")
rm -f "$FX_TMP"/dd?
fx_umount "$MNT"

# ----------------------------------------- the kernel's readahead window

# ra_kb OPTS: the read_ahead_kb of a mount with OPTS, once it has served a
# request (the window is set after INIT).
ra_kb() {
	fx_mount "$BUCKET" "$MNT" "$BASE_OPTS${1:+,$1}" "$CACHE" || return
	ls "$MNT" >/dev/null
	cat "/sys/class/bdi/$(mountpoint -d "$MNT")/read_ahead_kb" 2>&1
	fx_umount "$MNT"
}
if [ "$(id -u)" -eq 0 ]; then
	fx_eq "the kernel reads 8M ahead by default" 8192 "$(ra_kb)"
	fx_eq "prefetch=off leaves the kernel its own 128K" 128 "$(ra_kb prefetch=off)"
	fx_eq "unless kernel_readahead is given" 1024 "$(ra_kb prefetch=off,kernel_readahead=1M)"
else
	fx_skip "the kernel's readahead window" "setting it needs root"
fi

fx_finish
