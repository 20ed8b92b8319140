# shellcheck shell=bash
# Variables set here for the benchmarks that source it:
# shellcheck disable=SC2034
#
# lib.sh - what the S3 benchmarks in tools/bench share (sourced, never run).
#
# Owns: the common options (--rounds --server --latency --keep), finding
# rustfx (building it only when there is none) and running a private copy of
# it, the run's scratch directory and its cleanup, the S3 server
# (tests/s3/s3rver.sh or rgw.sh) and the fxproxy in front of it with its
# counters, mounting and unmounting rustfx, dropping the page cache, timing
# a dd read, and the report helpers (medians, ratios, the machine lines).
# Does not own: what a benchmark measures, its rows, or its goals.
#
# Use: set BENCH (the script's name, for messages and the scratch directory)
# and the defaults of ROUNDS SERVER LATENCY_MS KEEP, source this file, let
# fx_bench_opt take the common options, then call fx_bench_init. After it:
# REPO_ROOT S3_TOOLS RUSTFX_SRC (the binary found) RUSTFX_BIN (the copy run)
# TMP SRV MNT LOGS CAN_DROP T_START; fx_server_start sets S3_* and
# SERVER_VERSION, fx_proxy_start sets PROXY.

MOUNT_PID=
PROXY_PID=
SERVER_UP=
declare -A RES # RES[row,side] = space-separated values, one per round

# fx_bench_opt NAME VALUE: take one common option (all but --keep have a
# value); returns 1 when NAME is not one of them.
fx_bench_opt() {
	case $1 in
	--rounds) ROUNDS=$2 ;;
	--server) SERVER=$2 ;;
	--latency) LATENCY_MS=$2 ;;
	--keep) KEEP=1 ;;
	*) return 1 ;;
	esac
}

# fx_bench_check MIN_ROUNDS: validate the common options, exit 2 if wrong.
fx_bench_check() {
	if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt "$1" ]; then
		echo "error: --rounds must be a whole number, at least $1" >&2; exit 2
	fi
	case $SERVER in s3rver | rgw) ;; *)
		echo "error: --server must be s3rver or rgw, not '$SERVER'" >&2; exit 2 ;;
	esac
	if ! [[ $LATENCY_MS =~ ^[0-9]+$ ]]; then
		echo "error: --latency '$LATENCY_MS' is not a whole number of milliseconds" >&2; exit 2
	fi
}

# fx_bench_init: check the machine, make the scratch directory, copy rustfx
# into it (build/ may be rebuilt while a run takes minutes).
fx_bench_init() {
	REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	S3_TOOLS=$REPO_ROOT/tests/s3
	RUSTFX_SRC=${FX_TEST_RUSTFX:-$REPO_ROOT/build/tools/rustfx}
	export -n RUSTFX_SRC RUSTFX_BIN # RUSTFX_* in the environment is configuration to rustfx
	if [ ! -x "$RUSTFX_SRC" ] && [ -z "${FX_TEST_RUSTFX:-}" ]; then
		echo "# no rustfx binary: make -j2 rustfx in build/" >&2
		(cd "$REPO_ROOT/build" && make -j2 rustfx >&2)
	fi
	if [ ! -x "$RUSTFX_SRC" ]; then
		echo "error: no rustfx binary at $RUSTFX_SRC" >&2
		echo "hint: build first (cmake --build build) or set FX_TEST_RUSTFX" >&2
		exit 2
	fi
	if [ ! -e /dev/fuse ]; then
		echo "error: /dev/fuse is absent (no FUSE in this kernel or container)" >&2
		exit 69
	fi
	local tool
	for tool in curl python3; do
		command -v "$tool" >/dev/null || { echo "error: $tool is missing" >&2; exit 69; }
	done
	CAN_DROP=yes
	if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		CAN_DROP=no
		echo "warning: cannot drop the page cache (not root?): cold rows will be warm" >&2
	fi
	T_START=$SECONDS
	TMP=$(mktemp -d "/tmp/rustfx-bench-$BENCH.XXXXXX")
	SRV=$TMP/server
	MNT=$TMP/mnt
	LOGS=$TMP/logs
	mkdir -p "$SRV" "$MNT" "$LOGS" "$TMP/bin"
	trap fx_cleanup EXIT
	trap 'exit 130' INT TERM
	RUSTFX_BIN=$TMP/bin/rustfx
	cp -p "$RUSTFX_SRC" "$RUSTFX_BIN" || fx_die 70 "cannot copy $RUSTFX_SRC to $TMP/bin"
}

fx_drop_caches() { sync; [ "$CAN_DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches; }

fx_umount() {
	if mountpoint -q "$MNT"; then
		"$RUSTFX_BIN" umount "$MNT" >>"$LOGS/umount.out" 2>&1 ||
			fusermount3 -u "$MNT" 2>>"$LOGS/umount.out"
	fi
	if [ -n "$MOUNT_PID" ]; then
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$MOUNT_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$MOUNT_PID" 2>/dev/null; then
			echo "warning: rustfx (pid $MOUNT_PID) still runs 10 s after umount; SIGTERM" >&2
			kill -TERM "$MOUNT_PID" 2>/dev/null
			sleep 1
		fi
		wait "$MOUNT_PID" 2>/dev/null
		MOUNT_PID=
	fi
}

fx_cleanup() {
	fx_umount
	if [ -n "$PROXY_PID" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
	fi
	[ -n "$SERVER_UP" ] && "$S3_TOOLS/$SERVER.sh" stop "$SRV" >/dev/null 2>&1
	if [ -n "$KEEP" ]; then
		echo "# kept $TMP" >&2
	elif ! grep -q " $TMP" /proc/mounts; then
		rm -rf --one-file-system "$TMP"
	fi
}

# fx_die CODE MESSAGE [LOG...]: the tail of each log, then the error line.
fx_die() {
	local code=$1 msg=$2 log
	shift 2
	for log in "$@"; do
		[ -s "$log" ] || continue
		echo "--- last lines of $log:" >&2
		tail -n 30 "$log" >&2
	done
	echo "error: $msg" >&2
	exit "$code"
}

# fx_err MESSAGE: note a failed measurement (from inside $(...) too); the
# report lists them and the script exits 1.
fx_err() { echo "$*" >>"$TMP/errors"; }

# fx_server_start DATA_MIB: start SERVER in SRV; DATA_MIB sizes rgw's
# memstore (plus 1 GiB to spare) unless FX_RGW_MEMSTORE_BYTES is set.
fx_server_start() {
	if [ "$SERVER" = rgw ] && [ -z "${FX_RGW_MEMSTORE_BYTES:-}" ]; then
		export FX_RGW_MEMSTORE_BYTES=$((($1 + 1024) * 1048576))
	fi
	echo "# starting $SERVER" >&2
	SERVER_UP=1
	"$S3_TOOLS/$SERVER.sh" start "$SRV" >"$LOGS/server-start.out" 2>&1 ||
		fx_die 69 "$SERVER did not start" "$LOGS/server-start.out"
	# shellcheck disable=SC1091
	. "$SRV/env"
	export S3_ENDPOINT S3_REGION S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY
	case $SERVER in
	s3rver) SERVER_VERSION="s3rver $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
		"$S3_TOOLS/node_modules/s3rver/package.json" 2>/dev/null), node $(node --version 2>/dev/null)" ;;
	rgw) SERVER_VERSION="$(radosgw --version 2>/dev/null | head -n1 | sed 's/ *(.*//'), memstore $((FX_RGW_MEMSTORE_BYTES / 1048576)) MiB" ;;
	esac
}

# fx_proxy_start: fxproxy in front of the server. Rule 0 counts listings
# (GET ...?list-type=), rule 1 adds LATENCY_MS to every request. --verbose:
# one line a request in LOGS/proxy.out, to show which requests a row made.
fx_proxy_start() {
	RULES='[{"method":"GET","query":"list-type="}'
	[ "$LATENCY_MS" -gt 0 ] && RULES="$RULES,{\"latency\":$LATENCY_MS}"
	RULES="$RULES]"
	python3 "$S3_TOOLS/fxproxy.py" --upstream "$S3_ENDPOINT" --port-file "$TMP/proxy.port" --verbose \
		</dev/null >"$LOGS/proxy.out" 2>&1 &
	PROXY_PID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$TMP/proxy.port" ] && break
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -s "$TMP/proxy.port" ] || fx_die 69 "fxproxy did not start" "$LOGS/proxy.out"
	PROXY=http://127.0.0.1:$(cat "$TMP/proxy.port")
	fx_proxy_reset || fx_die 69 "fxproxy does not answer on $PROXY" "$LOGS/proxy.out"
}

# fx_proxy_reset: zero the counters (stats, and the rules' by replacing them).
fx_proxy_reset() {
	curl -sf -o /dev/null -X DELETE "$PROXY/__fxproxy/stats" &&
		curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
			--data "$RULES" "$PROXY/__fxproxy/rules"
}

# fx_proxy_counts -> "total list other_get head other bytes_down connections"
fx_proxy_counts() {
	python3 - "$PROXY" <<-'EOF'
		import json, sys, urllib.request
		base = sys.argv[1]
		st = json.load(urllib.request.urlopen(base + "/__fxproxy/stats"))
		rules = json.load(urllib.request.urlopen(base + "/__fxproxy/rules"))
		if isinstance(rules, dict):
		    rules = rules.get("rules", [])
		lists = rules[0].get("matched", 0) if rules else 0
		req = st["requests"]
		get, head = req.get("GET", 0), req.get("HEAD", 0)
		total = st["requests_total"]
		print(total, lists, get - lists, head, total - get - head, st["bytes_down"], st["connections"])
	EOF
}

# fx_proxy_mark -> the proxy log's length now; fx_proxy_since MARK FILE
# writes the requests logged after MARK to FILE.
fx_proxy_mark() { wc -l <"$LOGS/proxy.out"; }
fx_proxy_since() { tail -n +"$(($1 + 1))" "$LOGS/proxy.out" | grep -v '/__fxproxy/' >"$2"; }

# fx_mount TAG CACHE_DIR [OPTIONS]: mount s3://S3_BUCKET via the proxy on
# MNT with that cache_dir and the extra -o OPTIONS; MOUNT_PID is the daemon
# (rustfx mount -f); logs in LOGS/TAG.log and LOGS/TAG.out.
fx_mount() {
	mkdir -p "$2"
	AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
		"$RUSTFX_BIN" mount -f -o "endpoint=$PROXY,use_path_request_style,region=$S3_REGION,cache_dir=$2,log_level=info,logfile=$LOGS/$1.log${3:+,$3}" \
		"s3://$S3_BUCKET" "$MNT" </dev/null >"$LOGS/$1.out" 2>&1 &
	MOUNT_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$MOUNT_PID" 2>/dev/null || break
		sleep 0.1
	done
	fx_die 70 "the rustfx mount ($1) did not come up in 20 s" "$LOGS/$1.out" "$LOGS/$1.log"
}

# fx_dd TAG FILE EXPECT -> "BYTES SECONDS" of one dd bs=1M of FILE; nothing
# (and an fx_err line naming TAG) when dd did not read EXPECT bytes.
fx_dd() {
	local out bytes secs
	out=$(LC_ALL=C timeout 600 dd if="$2" of=/dev/null bs=1M 2>&1)
	bytes=$(awk '/bytes/ && / s,/ { print $1 }' <<<"$out")
	secs=$(awk '/bytes/ && / s,/ { for (i = 1; i <= NF; i++) if ($(i) == "s,") print $(i-1) }' <<<"$out")
	if [ "${bytes:-0}" != "$3" ]; then
		fx_err "$1: dd read ${bytes:-no} bytes of $3: $(tr '\n' ' ' <<<"$out")"
		return
	fi
	echo "$bytes $secs"
}

# fx_curl_s3 ARGS...: curl, quiet, the body thrown away, at most 15 minutes,
# signed for SERVER. curl 7.88 signs no payload hash of its own; S3 servers
# want the header.
fx_curl_s3() {
	curl -s -o /dev/null --max-time 900 --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}

# fx_curl_get TAG ENDPOINT -> MiB/s of one curl GET of the object "big" of
# OBJ_BYTES after drop_caches: what the server gives one client, the ceiling
# of a cold read; nothing (and an fx_err line naming TAG) when it failed.
fx_curl_get() {
	local out code size secs
	fx_drop_caches
	out=$(fx_curl_s3 -w '%{http_code} %{size_download} %{time_total}' "$2/$S3_BUCKET/big")
	read -r code size secs <<<"$out"
	if [ "$code" != 200 ] || [ "$size" != "$OBJ_BYTES" ]; then
		fx_err "$1: curl GET $2: http ${code:-none}, ${size:-0} bytes of $OBJ_BYTES"
		return
	fi
	fx_mibps "$size" "$secs"
}

# fx_curl_par TAG ENDPOINT N -> MiB/s of N ranged curl GETs covering the
# object "big" at once, after drop_caches: what the server gives parallel
# readers; nothing (and an fx_err line naming TAG) when they failed.
fx_curl_par() {
	local i lo hi part=$(((OBJ_BYTES + $3 - 1) / $3)) t0 secs got=0 n pids=()
	fx_drop_caches
	t0=$(date +%s.%N)
	for ((i = 0; i < $3; i++)); do
		lo=$((i * part)); hi=$((lo + part - 1))
		[ "$hi" -ge "$OBJ_BYTES" ] && hi=$((OBJ_BYTES - 1))
		fx_curl_s3 -r "$lo-$hi" -w '%{size_download}\n' "$2/$S3_BUCKET/big" >"$TMP/par.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	secs=$(fx_seconds_since "$t0")
	for ((i = 0; i < $3; i++)); do
		n=$(cat "$TMP/par.$i" 2>/dev/null); got=$((got + ${n:-0}))
	done
	if [ "$got" != "$OBJ_BYTES" ]; then
		fx_err "$1: $3 ranged curls: $got bytes of $OBJ_BYTES"
		return
	fi
	fx_mibps "$got" "$secs"
}

# fx_seconds_since T0 -> wall seconds since T0 (date +%s.%N)
fx_seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
# fx_mibps BYTES SECONDS -> MiB/s
fx_mibps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / 1048576 / s; else print "n/a" }'; }

# fx_add ROW SIDE VALUE: append one round's value to RES[ROW,SIDE].
fx_add() { RES[$1,$2]="${RES[$1,$2]:-}${RES[$1,$2]:+ }$3"; }
# fx_median <<<"V V V" -> the median of the numbers (n/a without any).
fx_median() { tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{ v[NR] = $1 }
	END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
	      else printf "%.3g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# fx_ratio A B -> A/B with two decimals (n/a unless both are positive)
fx_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

# fx_verdict VALUE OP GOAL -> "met", "NOT MET", or "NO DATA" (VALUE n/a);
# OP is one of >= <= =.
fx_verdict() {
	awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { if (v == "n/a" || v == "") { print "NO DATA"; exit }
		ok = op == ">=" ? v + 0 >= g + 0 : op == "<=" ? v + 0 <= g + 0 : v + 0 == g + 0
		print ok ? "met" : "NOT MET" }'
}

# fx_machine: the machine and date lines every report starts with.
fx_machine() {
	echo "machine: nproc=$(nproc), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "server: $SERVER_VERSION"
}

# fx_report_errors: list the failed measurements, if any, and exit 1.
fx_report_errors() {
	[ -s "$TMP/errors" ] || return 0
	echo
	echo "ERRORS (these rounds are missing from the medians):"
	sed 's/^/  /' "$TMP/errors"
	echo "  rustfx logs: $LOGS (rerun with --keep to look at them)"
	exit 1
}
