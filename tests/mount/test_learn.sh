#!/usr/bin/env bash
#
# test_learn.sh - the learning cache under a real mount (file://): a
# workload of 60 files read in one fixed shuffled order with
# prefetch=snn,cache_policy=snn and a trace; the model it leaves survives
# `rustfx cache clear` and, loaded by the next mount, prefetches the same
# order from a cold cache (used > 0, accuracy >= 0.5, bytes right); the
# trace replays in `rustfx sim`; `rustfx brain show|export|reset` on that
# model (names the workload's files, JSON, DOT that Graphviz takes, reset
# refused while mounted); a garbage model is replaced by a new one with a
# warning; a refused second mount of the store leaves the model alone; bad
# learning options fail the mount with exit 2 and a hint.
#
# The cache is looked at on disk (CACHE_DIR/<16 hex>/model.mdb) and through
# MOUNTPOINT/.rustfx/stats ("learn" section). file:// only: the model's
# file is overwritten behind rustfx's back.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse
if fx_s3; then
	echo "SKIP: test_learn.sh garbles the model file on disk (file:// only)"
	exit 77
fi

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
CACHE=$FX_TMP/cache
OUT=$FX_TMP/out
NFILES=60
# Learned prefetch on, the learned eviction policy (its scorer is saved with
# the model), 64K blocks so a file is a few blocks, and this machine's free
# space out of it.
LEARN_OPTS=prefetch=snn,cache_policy=snn,block_size=64K,cache_min_free=0

rfx() { timeout 60 "$RUSTFX_BIN" "$@"; }

# The workload: files of 1 to 6 blocks with distinct bytes, and two whose
# names a DOT or terminal writer must escape (a quote and a backslash; a
# tab).
mkdir -p "$BUCKET" "$OUT"
NAMES=()
for ((i = 0; i < NFILES; i++)); do
	case $i in
	7) name='q"uote\back.dat' ;;
	23) name=$'tab\there.dat' ;;
	*) name=$(printf 'f%02d.dat' "$i") ;;
	esac
	NAMES+=("$name")
	head -c $((20000 + (i * 7919) % 360000)) /dev/urandom >"$BUCKET/$name"
done
# One fixed shuffled order, the same for every run.
mapfile -t ORDER < <(printf '%s\n' "${NAMES[@]}" |
	python3 -c 'import random, sys
names = sys.stdin.read().split("\n")[:-1]
random.Random(20241124).shuffle(names)
print("\n".join(names))')

# store_of CACHE_DIR: the store (the subdirectory holding index.mdb or model.mdb).
store_of() {
	local f
	f=$(find "$1" -mindepth 2 -maxdepth 2 \( -name index.mdb -o -name model.mdb \) 2>/dev/null |
		head -n 1)
	[ -n "$f" ] && dirname "$f"
}


# read_workload DEST: read every file through the mount in ORDER, 50 ms
# apart (well inside snn_window_ms, as a job reading its inputs would),
# copying each to DEST.
# shellcheck disable=SC2317 # called through fx_ok
read_workload() {
	local name
	for name in "${ORDER[@]}"; do
		cat -- "$MNT/$name" >"$1/$name" || return 1
		sleep 0.05
	done
}

# same_as_bucket DIR: every file of DIR is byte-identical to the bucket's.
# shellcheck disable=SC2317 # called through fx_ok
same_as_bucket() {
	local name
	for name in "${ORDER[@]}"; do
		cmp -s -- "$BUCKET/$name" "$1/$name" || {
			echo "differs: $name"
			return 1
		}
	done
}

drop_page_cache() {
	if sync && echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		return 0
	fi
	fx_skip "dropping the page cache before the cold run" \
		"/proc/sys/vm/drop_caches is not writable here (not root, or a container)"
}

fx_diag() {
	local errors
	errors=$(printf '%s\n' "$FX_ERR" | grep -c '^error: ')
	if [ "$errors" -eq 1 ] && printf '%s\n' "$FX_ERR" | grep -q '^hint: '; then
		fx_pass "$1: one error: line and a hint: line"
	else
		fx_fail "$1: one error: line and a hint: line" "$(fx_ctx)"
	fi
}

# ---------------------------------------------- (1) learn, clear, predict

TRACE1=$FX_TMP/run1.trace
fx_mount "$BUCKET" "$MNT" "$LEARN_OPTS,trace=$TRACE1" "$CACHE" || fx_finish
mkdir -p "$OUT/1" "$OUT/2"
fx_ok "run 1: the workload reads through the mount" read_workload "$OUT/1"
fx_ok "run 1: every file reads back byte-identical" same_as_bucket "$OUT/1"
fx_eq "run 1: the stats have a learn section, no model loaded" false \
	"$(fx_stat "$MNT" learn.model_loaded)"
fx_ok "run 1: the predictor saw the reads" test "$(fx_stat "$MNT" learn.accesses)" -ge "$NFILES"
PID1=$FX_LAST_PID
fx_umount "$MNT"
fx_eq "run 1: unmount exits 0 (after saving the model)" 0 "$FX_DAEMON_RC"
STORE=$(store_of "$CACHE")
fx_ok "run 1: a model is saved beside the index (STORE/model.mdb)" test -s "$STORE/model.mdb"
fx_not "run 1: the daemon (pid $PID1) is gone before the model is looked at" kill -0 "$PID1"
MODEL_BYTES=$(stat -c %s "$STORE/model.mdb" 2>/dev/null)

fx_status "rustfx cache clear of the store exits 0" 0 rfx cache clear "$CACHE"
fx_eq "cache clear removes the blocks" 0 "$(find "$STORE/blocks" -type f 2>/dev/null | wc -l)"
fx_eq "cache clear keeps the model" "$MODEL_BYTES" "$(stat -c %s "$STORE/model.mdb" 2>&1)"
fx_match "cache --help says clear keeps the model" "$(rfx cache --help)" 'model.mdb'

TRACE2=$FX_TMP/run2.trace
fx_mount "$BUCKET" "$MNT" "$LEARN_OPTS,trace=$TRACE2" "$CACHE" || fx_finish
drop_page_cache
fx_ok "run 2: the workload reads again, cold cache" read_workload "$OUT/2"
fx_ok "run 2: every file reads back byte-identical" same_as_bucket "$OUT/2"
fx_eq "run 2: the saved model was loaded" true "$(fx_stat "$MNT" learn.model_loaded)"
USED=$(fx_stat "$MNT" learn.used)
ACC=$(fx_stat "$MNT" learn.accuracy)
fx_ok "run 2: learned prefetches were used (used = $USED)" test "$USED" -gt 0
fx_ok "run 2: learned prefetch accuracy >= 0.5 (accuracy = $ACC)" \
	python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.5 else 1)' "$ACC"

# ------------------------------------------------------ (2) the trace replays

fx_status "rustfx sim replays run 1's trace" 0 \
	rfx sim --trace "$TRACE1" --cache-size 50% --policy lru --json
SIM_JSON=$FX_OUT
REQUESTS=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["requests"])' \
	"$SIM_JSON" 2>&1)
# Each file was read through FUSE at least once (the mount was new); the
# kernel reads at least 4K at a time, so no more requests than 4K pieces.
TOTAL=$(cat "$BUCKET"/* | wc -c)
fx_ok "sim: at least one read request a file ($REQUESTS >= $NFILES)" test "$REQUESTS" -ge "$NFILES"
fx_ok "sim: no more requests than 4K pieces of the workload ($REQUESTS)" \
	test "$REQUESTS" -le $((TOTAL / 4096 + NFILES))
fx_eq "sim: the trace is a rustfx trace" rustfx \
	"$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["format"])' "$SIM_JSON" 2>&1)"
fx_eq "sim: its footprint is the workload's bytes in 1M blocks (every file, whole)" \
	"$NFILES" \
	"$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["unique_blocks"])' "$SIM_JSON" 2>&1)"
fx_ok "the trace names every file of the workload" python3 -c 'import sys
data = open(sys.argv[1], "rb").read()
missing = [n for n in sys.argv[2:] if n.encode() not in data]
sys.exit("missing: %r" % missing if missing else 0)' "$TRACE1" "${NAMES[@]}"

# ------------------------------------------------------ (3) rustfx brain

fx_status "brain show CACHE_DIR exits 0 (mounted: the model as last saved)" 0 \
	rfx brain show --top 200 "$CACHE"
SHOW=$FX_OUT
fx_match "brain show names the model file and its size" "$SHOW" "^  model +model\.mdb, [0-9]+ bytes"
fx_match "brain show gives the reuse scorer (cache_policy=snn saved one)" "$SHOW" \
	'^  reuse scorer  MLP [0-9-]+ saved'
fx_match "brain show names an association between two workload files" "$SHOW" \
	'^    f[0-9]{2}\.dat \[blocks [0-9]+-[0-9]+\] -> f[0-9]{2}\.dat \[blocks [0-9]+-[0-9]+\]  weight [0-9.]+$'
fx_nomatch "brain show prints no raw tab from a key" "$SHOW" $'\t'
fx_status "brain show --json exits 0" 0 rfx brain show --json --top 100000 "$CACHE"
BRAIN_JSON=$FX_OUT
fx_ok "brain show --json: an array of one store, with the fields of show" python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
assert isinstance(doc, list) and len(doc) == 1, doc
s = doc[0]
for k in ("dir", "file_bytes", "neurons", "synapses", "objects", "model_bytes", "counters", "mlp", "associations"):
    assert k in s, k
assert s["mlp"]["saved"] is True
assert s["synapses"] > 0 and s["objects"] >= 60, (s["synapses"], s["objects"])' "$BRAIN_JSON"
# What the model learned: files read one after the other are linked.
fx_ok "brain show --json: a file is linked to the one read after it" python3 -c '
import json, sys
order = sys.argv[2].split("\n")
succ = {a: b for a, b in zip(order, order[1:])}
pairs = [(a["from"].get("key"), a["to"].get("key")) for a in json.loads(sys.argv[1])[0]["associations"]]
hits = [p for p in pairs if p[0] in succ and succ[p[0]] == p[1]]
sys.exit(0 if hits else "no association names a file and its successor among %r" % pairs[:10])' \
	"$BRAIN_JSON" "$(printf '%s\n' "${ORDER[@]}")"
fx_ok "brain show --json gives the escaped names as they are" python3 -c '
import json, sys
keys = {e.get("key") for a in json.loads(sys.argv[1])[0]["associations"] for e in (a["from"], a["to"])}
sys.exit(0 if "q\"uote\\back.dat" in keys or "tab\there.dat" in keys else "keys: %r" % sorted(k for k in keys if k))' \
	"$BRAIN_JSON"

fx_status "brain export --dot exits 0" 0 \
	rfx brain export --dot --min-weight 0 --max-edges 100000 "$CACHE"
DOT=$FX_OUT
printf '%s\n' "$DOT" >"$FX_TMP/model.dot"
fx_match "export --dot writes a digraph" "$(head -n 1 "$FX_TMP/model.dot")" '^digraph rustfx_model \{$'
fx_match "export --dot has edges between workload files' nodes" "$DOT" '^		s0n[0-9]+ -> s0n[0-9]+ \[label="[0-9.]+", penwidth=[0-9.]+\];$'
fx_match "export --dot labels a node with a file name and its blocks" "$DOT" \
	'label="f[0-9]{2}\.dat\\n\[blocks [0-9]+-[0-9]+\]"'
fx_match "export --dot escapes a quote and a backslash in a key" "$DOT" \
	'label="q\\"uote\\\\\\\\back\.dat\\n'
if ! command -v dot >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
	fx_log "installing graphviz to check the DOT output"
	apt-get install -y -q graphviz >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q graphviz >/dev/null 2>&1; }
fi
if command -v dot >/dev/null; then
	fx_ok "dot -Tsvg accepts the export" dot -Tsvg -o "$FX_TMP/model.svg" "$FX_TMP/model.dot"
	fx_ok "the SVG shows the escaped key as text" grep -q 'q&quot;uote\\\\back.dat' "$FX_TMP/model.svg"
else
	fx_skip "dot -Tsvg accepts the export" "graphviz is not installed and cannot be here"
fi
fx_status "export --dot --min-weight 99 (above every weight) is an empty digraph" 0 \
	rfx brain export --dot --min-weight 99 "$CACHE"
fx_nomatch "... with no edge" "$FX_OUT" ' -> '

# A second mount of the busy store is refused; it loaded the model before
# it met the lock, and must not write it back over the running mount's.
before=$(stat -c '%i %Y' "$STORE/model.mdb" 2>&1)
mkdir -p "$FX_TMP/mnt2"
sleep 1.1 # a rewrite would show in the mtime's seconds too
printf 'not a trace: the refused mount must not truncate it\n' >"$FX_TMP/busy.trace"
fx_status "a second mount of the same store is refused (exit 1)" 1 timeout 20 "$RUSTFX_BIN" \
	mount -f -o "cache_dir=$CACHE,$LEARN_OPTS,trace=$FX_TMP/busy.trace" "file://$BUCKET" "$FX_TMP/mnt2"
fx_eq "the refused mount left the model file alone" "$before" \
	"$(stat -c '%i %Y' "$STORE/model.mdb" 2>&1)"
fx_ok "... and did not touch the trace file it was given" \
	grep -q '^not a trace' "$FX_TMP/busy.trace"

fx_status "brain reset while mounted exits 1" 1 rfx brain reset "$CACHE"
fx_diag "brain reset while mounted"
fx_match "brain reset while mounted says the store is in use" "$FX_ERR" 'in use by a rustfx mount'
fx_ok "brain reset while mounted leaves the model" test -s "$STORE/model.mdb"
fx_umount "$MNT"
fx_eq "run 2: unmount exits 0" 0 "$FX_DAEMON_RC"
fx_status "brain reset after unmount exits 0" 0 rfx brain reset "$CACHE"
fx_match "brain reset says what it removed" "$FX_OUT" 'model removed'
fx_not "brain reset removed model.mdb" test -e "$STORE/model.mdb"
fx_status "brain show with no model exits 2" 2 rfx brain show "$CACHE"
fx_diag "brain show with no model"
fx_status "brain show of a directory that is not there exits 2" 2 rfx brain show "$FX_TMP/nowhere"
fx_status "brain with a bad --top exits 2" 2 rfx brain show --top many "$CACHE"
fx_diag "brain show --top many"

# ---------------------------------------------------- (4) a garbage model

fx_mount "$BUCKET" "$MNT" "$LEARN_OPTS" "$CACHE" || fx_finish
mkdir -p "$OUT/3" "$OUT/4"
fx_ok "run 3: the workload reads" read_workload "$OUT/3"
fx_umount "$MNT"
fx_ok "run 3 saved a new model" test -s "$STORE/model.mdb"
head -c 65536 /dev/urandom >"$STORE/model.mdb"
fx_status "brain show of a garbage model fails (74, a damaged file)" 74 rfx brain show "$CACHE"
fx_diag "brain show of a garbage model"
fx_mount "$BUCKET" "$MNT" "$LEARN_OPTS" "$CACHE" || fx_finish
fx_ok "run 4: a mount with a garbage model comes up and reads right" read_workload "$OUT/4"
fx_ok "run 4: every file reads back byte-identical" same_as_bucket "$OUT/4"
fx_eq "run 4: no model was loaded" false "$(fx_stat "$MNT" learn.model_loaded)"
fx_match "run 4: the log warns that the saved model cannot be used, naming it" \
	"$(cat "$FX_LAST_LOG")" "saved model in $STORE cannot be used"
fx_umount "$MNT"
fx_eq "run 4: unmount exits 0" 0 "$FX_DAEMON_RC"
fx_status "brain show reads the model run 4 saved in its place" 0 rfx brain show "$CACHE"
fx_match "... which holds run 4's synapses" "$FX_OUT" '^  holds +[1-9][0-9]* synapses'

# ---------------------------------------------------- (5) bad options

# mount_fails DESC OPTS: refused before mounting: exit 2, one error, a hint.
mount_fails() {
	fx_status "$1 fails the mount with exit 2" 2 timeout 20 "$RUSTFX_BIN" mount -f \
		-o "cache_dir=$CACHE,$2" "file://$BUCKET" "$MNT"
	fx_diag "$1"
	fx_not "$1: nothing is mounted" fx_is_mounted "$MNT"
}
mount_fails "-o prefetch=bogus" prefetch=bogus
mount_fails "-o snn_neurons=10 (below 1024)" prefetch=snn,snn_neurons=10
mount_fails "-o trace= in a directory that does not exist" trace=/nonexistent/dir/t
mount_fails "-o snn_window_ms=0" prefetch=snn,snn_window_ms=0

fx_finish
