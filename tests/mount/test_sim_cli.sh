#!/usr/bin/env bash
#
# test_sim_cli.sh - `rustfx sim` as a user runs it: small lirs and
# cloudphysics traces written here, the miss counts worked out by hand (in
# the comments), text, JSON and --curve output, gzip input, and the exit
# codes and "error: / hint:" lines for bad input.
#
# Mounts nothing, so it does not need /dev/fuse.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup

rfx() { timeout 60 "$RUSTFX_BIN" "$@"; }

# jfield NAME: the field NAME of the JSON object in FX_OUT.
jfield() {
	python3 -c 'import json, sys; v = json.loads(sys.stdin.read())[sys.argv[1]]
print(v if not isinstance(v, float) else "%.4f" % v)' "$1" <<<"$FX_OUT" 2>/dev/null
}

fx_diag() {
	if printf '%s\n' "$FX_ERR" | grep -q '^error:' && printf '%s\n' "$FX_ERR" | grep -q '^hint:'; then
		fx_pass "$1: error: and hint: lines on stderr"
	else
		fx_fail "$1: error: and hint: lines on stderr" "$(fx_ctx)"
	fi
}

LIRS=$FX_TMP/anomaly.trace
CP=$FX_TMP/cp.csv
printf '%s\n' 1 2 3 4 1 2 5 1 2 3 4 5 >"$LIRS"
gzip -c "$LIRS" >"$LIRS.gz"
cat >"$CP" <<'EOF'
version,time,op,size,lbn
1,1000000,28,8192,0
1,2000000,28,4096,8
1,3000000,2a,4096,16
1,4000000,35,0,0
1,5000000,28,12288,0
EOF

# ------------------------------------------------------------------ lirs

# 1 2 3 4 1 2 5 1 2 3 4 5 in 3 blocks (12K): LRU misses 10 (only the second
# "1 2" hits), Belady 7 (4 evicts 3, 5 evicts 4, 3 and 4 evict blocks never
# used again).
fx_status "sim lirs lru exits 0" 0 rfx sim --trace "$LIRS" --format lirs --cache-size 12K --policy lru
fx_match "text output: 10 of 12 requests missed" "$FX_OUT" '^requests +12, 10 missed: miss ratio 0\.8333$'
fx_match "text output names the footprint (5 blocks)" "$FX_OUT" '5 blocks of 4\.0 KiB, footprint 20\.0 KiB'

fx_status "sim lirs belady --json exits 0" 0 rfx sim --trace "$LIRS" --format lirs --cache-size 12K \
	--policy belady --json
fx_eq "belady misses 7" 7 "$(jfield request_misses)"
fx_eq "block misses equal request misses for lirs" 7 "$(jfield block_misses)"
fx_eq "JSON format field" lirs "$(jfield format)"

fx_status "gzip'd lirs with format auto, cache 60% (3 blocks)" 0 rfx --json sim --trace "$LIRS.gz" \
	--cache-size 60% --policy lru
fx_eq "auto-detected lirs, 60% of 20K is 12288 bytes" "lirs 12288 10" \
	"$(jfield format) $(jfield cache_bytes) $(jfield request_misses)"

fx_status "curve exits 0" 0 rfx sim --trace "$LIRS" --curve --sizes 40%,60%,100% --policy lru,belady
fx_eq "curve: header and 6 rows" 7 "$(printf '%s\n' "$FX_OUT" | wc -l)"
fx_match "curve header" "$FX_OUT" '^cache_bytes,fraction,policy,request_miss_ratio,block_miss_ratio,byte_miss_ratio$'
# 100%: only the 5 first reads miss, for both.
fx_match "curve row: 100%, lru, 5/12" "$FX_OUT" '^20480,1\.000000,lru,0\.416667,0\.416667,0\.416667$'
fx_match "curve row: 60%, belady, 7/12" "$FX_OUT" '^12288,0\.600000,belady,0\.583333,0\.583333,0\.583333$'

# 100 blocks read in order, cache 100% (400K): seq prefetch misses only
# block 0. lirs has no object size, so the window (at most a quarter of
# the cache: 25 blocks) runs 25 blocks past the end: 124 prefetched, 99
# used, 25 unused; accuracy 99/124, coverage 99/100.
seq 0 99 >"$FX_TMP/seq.trace"
fx_status "seq prefetch exits 0" 0 rfx sim --trace "$FX_TMP/seq.trace" --cache-size 100% --prefetch seq --json
fx_eq "seq prefetch: block misses / issued / used / unused" "1 124 99 25" \
	"$(jfield block_misses) $(jfield prefetch_issued) $(jfield prefetch_used) $(jfield prefetch_unused)"
fx_eq "seq prefetch: accuracy and coverage" "0.7984 0.9900" \
	"$(jfield prefetch_accuracy) $(jfield prefetch_coverage)"
fx_status "prefetch off on the same trace" 0 rfx sim --trace "$FX_TMP/seq.trace" --cache-size 100% --json
fx_eq "prefetch off: every block misses once" "100 0" "$(jfield block_misses) $(jfield prefetch_issued)"

# ------------------------------------------------------------------ cloudphysics

# 4 KiB blocks. 1 MiB cache: read blocks 0-1 (2 misses), read block 1
# (hit), write block 2 (miss), the 0x35 record is skipped, read blocks
# 0-2 (hits): 2 of 4 requests and 3 of 7 blocks missed, 12288 bytes.
fx_status "cloudphysics 1M exits 0" 0 rfx sim --trace "$CP" --format cloudphysics --cache-size 1M --json
fx_eq "cloudphysics requests / writes / request misses" "4 1 2" \
	"$(jfield requests) $(jfield write_requests) $(jfield request_misses)"
fx_eq "cloudphysics blocks / block misses / byte misses" "7 3 12288" \
	"$(jfield blocks) $(jfield block_misses) $(jfield byte_misses)"
fx_eq "cloudphysics skipped record" 1 "$(jfield skipped_records)"
fx_match "the skipped record is noted on stderr" "$FX_ERR" '^note: 1 records of .* skipped'
# 8K (2 blocks), LRU: 0 1 miss; 1 hits; 2 misses and evicts 0; then 0, 1,
# 2 each miss and evict the oldest: 3 of 4 requests, 6 of 7 blocks.
fx_status "cloudphysics 8K exits 0" 0 rfx sim --trace "$CP" --cache-size 8K --json
fx_eq "cloudphysics at 8K: request / block / byte misses" "3 6 24576" \
	"$(jfield request_misses) $(jfield block_misses) $(jfield byte_misses)"

# ------------------------------------------------------------------ bad input → 2

fx_status "sim --help exits 0" 0 rfx sim --help
fx_match "sim --help names the formats" "$FX_OUT" 'cloudphysics'
fx_status "rustfx --help lists sim" 0 rfx --help
fx_match "rustfx --help lists sim" "$FX_OUT" '^ +sim +'
fx_status "completion bash exits 0" 0 rfx completion bash
fx_match "bash completion knows sim" "$FX_OUT" 'sim\)'

fx_status "unknown format exits 2" 2 rfx sim --trace "$LIRS" --format nope --cache-size 1M
fx_diag "unknown format"
fx_status "unknown policy exits 2" 2 rfx sim --trace "$LIRS" --cache-size 1M --policy nope
fx_diag "unknown policy"
fx_match "the hint lists the policies" "$FX_ERR" '^hint: policies: .*lru.*belady'
fx_status "unknown prefetch exits 2" 2 rfx sim --trace "$LIRS" --cache-size 1M --prefetch nope
fx_diag "unknown prefetch"
fx_status "missing trace exits 2" 2 rfx sim --trace "$FX_TMP/none" --cache-size 1M
fx_diag "missing trace"
fx_status "no --trace exits 2" 2 rfx sim --cache-size 1M
fx_diag "no --trace"
fx_status "no --cache-size exits 2" 2 rfx sim --trace "$LIRS"
fx_diag "no --cache-size"
fx_status "bad --cache-size exits 2" 2 rfx sim --trace "$LIRS" --cache-size 12Q
fx_diag "bad --cache-size"
printf '1\n2\nthree\n' >"$FX_TMP/bad.trace"
fx_status "malformed lirs exits 2" 2 rfx sim --trace "$FX_TMP/bad.trace" --format lirs --cache-size 1M
fx_diag "malformed lirs"
fx_match "the error names line 3" "$FX_ERR" "^error: .*line 3: not a block number: 'three'"
printf 'RFXTRACE\002\000\001\000\001\000\000\000%024d' 0 >"$FX_TMP/v2.rfxtrace"
fx_status "rustfx trace of version 2 exits 2" 2 rfx sim --trace "$FX_TMP/v2.rfxtrace" --format rustfx --cache-size 1M
fx_match "the error says which version" "$FX_ERR" 'unsupported version 2'
fx_status "a cloudphysics file read as csv exits 2" 2 rfx sim --trace "$CP" --format csv --cache-size 1M
fx_match "the hint names the right format" "$FX_ERR" '^hint: .*--format cloudphysics'
fx_status "a directory as the trace exits 2" 2 rfx sim --trace "$FX_TMP" --cache-size 1M
fx_diag "directory trace"

fx_finish
