#!/usr/bin/env bash
#
# test_metrics.sh - -o metrics=HOST:PORT on a real mount: curl scrapes
# http://HOST:PORT/metrics while files are read; a parser here checks every
# line of the exposition (Prometheus text format 0.0.4: HELP and TYPE before
# each family's samples, families whole, no duplicate series, names and
# label escapes, counters named *_total, histogram buckets cumulative with
# +Inf equal to _count), that counters never go down between two scrapes,
# and that every number of MOUNTPOINT/.rustfx/stats read at the same moment
# is in the scrape with the same value (hits, misses, bytes, requests, the
# latency buckets). Also: the content type, HEAD, 404 and 405; only the
# address given listens (a port alone means 127.0.0.1); unmount frees the
# port and a remount on it serves again (with cache hits); a daemonized
# mount serves after its fork; the setting from RUSTFX_MOUNT_METRICS and
# rustfx.toml; bad addresses, a foreign address and a taken port fail the
# mount before it mounts, with one error line and a hint (exit 2, 2, 1).
#
# A build without RUSTFX_METRICS (its CMakeCache.txt says OFF) is checked
# for the other promise instead: -o metrics= fails the mount saying so.

# shellcheck source=tests/mount/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fx_setup
fx_require_fuse
for tool in curl python3; do
	command -v "$tool" >/dev/null || fx_abort "$tool is installed" "tools/deps.sh installs it"
done

BUCKET=$FX_TMP/bucket
MNT=$FX_TMP/mnt
CACHE=$FX_TMP/cache
CHECK=$FX_TMP/promcheck.py
MB=$((1024 * 1024))
mkdir -p "$BUCKET" "$MNT"
for f in a b c; do head -c $((3 * MB)) /dev/urandom >"$FX_TMP/$f.bin"; done
for f in a b c; do fx_bucket_put "$BUCKET/$f.bin" <"$FX_TMP/$f.bin"; done

# free_port: a TCP port nothing listens on now.
free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# listening PORT: the local addresses in LISTEN state on PORT, one a line,
# as /proc/net/tcp{,6} spell them (0100007F:2561 is 127.0.0.1:9569).
listening() {
	awk -v port="$(printf '%04X' "$1")" \
		'$4 == "0A" { split($2, a, ":"); if (a[2] == port) print $2 }' /proc/net/tcp /proc/net/tcp6
}

# ------------------------------------------------ a build without metrics

BUILD_DIR=$(dirname "$(dirname "$RUSTFX_BIN")")
if grep -Eiq '^RUSTFX_METRICS:BOOL=(OFF|0|FALSE|NO|N)$' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
	fx_log "this build has RUSTFX_METRICS=OFF: checking that metrics= is refused"
	fx_status "without RUSTFX_METRICS, -o metrics= fails the mount (exit 2)" 2 \
		timeout 30 "$RUSTFX_BIN" mount -f -o "cache_dir=$CACHE,metrics=127.0.0.1:9567" \
		"$(fx_url "$BUCKET")" "$MNT"
	fx_match "the error says the build lacks metrics" "$FX_ERR" '^error: .*built without metrics'
	fx_match "the hint says how to build it" "$FX_ERR" '^hint: .*RUSTFX_METRICS=ON'
	fx_not "nothing was mounted" fx_is_mounted "$MNT"
	fx_finish
fi

# ----------------------------------------------------- the checker

cat >"$CHECK" <<'EOF'
"""Prometheus text format 0.0.4 checks for test_metrics.sh.

check FILE            every line's syntax and the families' rules
monotonic OLD NEW     no counter, bucket, _count or _sum went down; nothing vanished
match STATS FILE      every number of the stats document is in FILE, same value
value FILE SERIES     print one sample's value (SERIES as name{a="b"})
"""
import json, math, re, sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
LABELS_OK = {"rustfx_info": {"backend"}}
errors = []


def fail(lineno, msg, line=""):
    errors.append(f"line {lineno}: {msg}" + (f": {line!r}" if line else ""))


def parse_labels(text, i, lineno, line):
    """Labels from text[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if text[i:i + 1] == "}":
            return labels, i + 1
        m = LABEL.match(text, i)
        if not m:
            raise ValueError("bad label name")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ValueError("label name not followed by =\"")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ValueError("unterminated label value")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt == "n":
                    value.append("\n")
                elif nxt in ("\\", '"'):
                    value.append(nxt)
                else:
                    raise ValueError(f"bad escape \\{nxt} in a label value")
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise ValueError(f"label {name} twice")
        labels[name] = "".join(value)
        if text[i:i + 1] == ",":
            i += 1
            if text[i:i + 1] == "}":
                raise ValueError("trailing comma")
        elif text[i:i + 1] != "}":
            raise ValueError("labels not separated by ','")


def series_key(name, labels):
    return name + "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def parse(path):
    """Samples {series: (family, type, name, labels, text value)} and family types."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        fail(0, f"not UTF-8 ({e})")
        return {}, {}
    if not text.endswith("\n"):
        fail(0, "the exposition does not end with a newline")
    types, helps, samples, done = {}, set(), {}, set()
    current = None
    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            fail(lineno, "empty line")
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                fail(lineno, "a comment other than # HELP or # TYPE", line)
                continue
            name = parts[2]
            if not NAME.fullmatch(name):
                fail(lineno, "bad metric name", line)
            if name in done or (current and current != name and name in types):
                fail(lineno, f"family {name} is not whole", line)
            if current != name:
                if current:
                    done.add(current)
                current = name
            if parts[1] == "HELP":
                if name in helps:
                    fail(lineno, "second HELP", line)
                helps.add(name)
                help_text = parts[3] if len(parts) > 3 else ""
                if re.search(r"\\[^\\n]|\\$", help_text):
                    fail(lineno, "bad escape in HELP", line)
            else:
                if name in types:
                    fail(lineno, "second TYPE", line)
                if any(s[0] == name for s in samples.values()):
                    fail(lineno, "TYPE after the family's samples", line)
                if len(parts) != 4 or parts[3] not in TYPES:
                    fail(lineno, "bad TYPE", line)
                    continue
                types[name] = parts[3]
            continue
        m = NAME.match(line)
        if not m:
            fail(lineno, "a sample without a metric name", line)
            continue
        name, i = m.group(0), m.end()
        labels = {}
        try:
            if line[i:i + 1] == "{":
                labels, i = parse_labels(line, i, lineno, line)
        except (ValueError, IndexError) as e:
            fail(lineno, str(e), line)
            continue
        rest = line[i:]
        fields = rest.split(" ")
        if not rest.startswith(" ") or len(fields) not in (2, 3) or not NUMBER.fullmatch(fields[1]):
            fail(lineno, "bad value", line)
            continue
        if len(fields) == 3 and not re.fullmatch(r"-?[0-9]+", fields[2]):
            fail(lineno, "bad timestamp", line)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
        if family not in types:
            fail(lineno, "a sample before its family's TYPE", line)
            continue
        if family != current or family in done:
            fail(lineno, f"family {family} is not whole", line)
        key = series_key(name, labels)
        if key in samples:
            fail(lineno, "duplicate series", line)
        samples[key] = (family, types[family], name, labels, fields[1])
    return samples, types


def rules(samples, types):
    for family, kind in types.items():
        if not family.startswith("rustfx_"):
            fail(0, f"{family}: not named rustfx_*")
        if kind == "untyped":
            fail(0, f"{family}: untyped (a stats field without an entry in fs/metrics.c)")
        if kind == "counter" and not family.endswith("_total"):
            fail(0, f"counter {family} is not named *_total")
        if kind != "counter" and family.endswith("_total"):
            fail(0, f"{kind} {family} is named like a counter")
        if not any(s[0] == family for s in samples.values()):
            fail(0, f"{family}: a TYPE without samples")
    hists = {}
    for key, (family, kind, name, labels, value) in samples.items():
        v = float(value)
        allowed = LABELS_OK.get(family, {"op"} if family.startswith("rustfx_backend_") else set())
        if kind == "histogram" and name.endswith("_bucket"):
            allowed = allowed | {"le"}
        if set(labels) - allowed:
            fail(0, f"{key}: unexpected labels {sorted(set(labels) - allowed)}")
        if kind == "counter" and not (v >= 0):
            fail(0, f"{key}: counter {value} is not >= 0")
        if kind != "histogram":
            continue
        rest = {k: labels[k] for k in labels if k != "le"}
        h = hists.setdefault(series_key(family, rest), {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            if "le" not in labels:
                fail(0, f"{key}: a bucket without le")
                continue
            h["buckets"].append((labels["le"], v))
        elif name.endswith("_sum"):
            h["sum"] = v
        else:
            h["count"] = v
    for key, h in hists.items():
        les = [float(le) for le, _ in h["buckets"]]
        counts = [c for _, c in h["buckets"]]
        if not h["buckets"] or h["buckets"][-1][0] != "+Inf":
            fail(0, f"{key}: the last bucket is not le=\"+Inf\"")
        if les != sorted(set(les)):
            fail(0, f"{key}: bucket bounds not strictly increasing: {les}")
        if counts != sorted(counts):
            fail(0, f"{key}: buckets not cumulative: {counts}")
        if h["count"] is None:
            fail(0, f"{key}: no _count")
        elif counts and counts[-1] != h["count"]:
            fail(0, f"{key}: +Inf bucket {counts[-1]} != _count {h['count']}")
        if h["sum"] is not None and not h["sum"] >= 0:
            fail(0, f"{key}: _sum {h['sum']} < 0")
    return hists


def done(what):
    if errors:
        print(f"{what}: {len(errors)} problems", file=sys.stderr)
        for e in errors[:40]:
            print("  " + e, file=sys.stderr)
        sys.exit(1)


def leaves(stats):
    """(section, key, value) of the stats document's numbers."""
    for sec, obj in stats.items():
        if isinstance(obj, dict) and sec != "requests":
            for k, v in obj.items():
                yield sec, k, v


def same(text, v):
    if isinstance(v, bool):
        return text == ("1" if v else "0")
    if isinstance(v, int):
        return text == str(v)
    return math.isclose(float(text), v, rel_tol=1e-12, abs_tol=1e-15)


def match(stats, samples):
    by_name = {}
    for key, s in samples.items():
        by_name.setdefault(s[2], []).append(s)
    checked = 0
    for sec, k, v in leaves(stats):
        base = f"rustfx_{sec}_{k}"
        names = [n for n in (base, base + "_total", base + "_bytes", base + "_blocks") if n in by_name]
        if len(names) != 1:
            fail(0, f"stats {sec}.{k} = {v}: {len(names)} metrics named like {base}[_total|_bytes|_blocks]")
            continue
        text = by_name[names[0]][0][4]
        if not same(text, v):
            fail(0, f"stats {sec}.{k} = {v} but {names[0]} = {text}")
        checked += 1
    fixed = {"calls": "rustfx_backend_requests_total", "errors": "rustfx_backend_request_errors_total",
             "bytes": "rustfx_backend_request_bytes_total"}
    hist = "rustfx_backend_request_duration_seconds"
    for op, o in stats.get("requests", {}).items():
        for k, v in o.items():
            if k in fixed:
                key = series_key(fixed[k], {"op": op})
                if key not in samples or not same(samples[key][4], v):
                    fail(0, f"stats requests.{op}.{k} = {v} but {key} = {samples.get(key, [None] * 5)[4]}")
                checked += 1
            elif k == "latency_us":
                got, prev = {}, 0.0
                for le, c in sorted(((s[3]["le"], float(s[4])) for s in samples.values()
                                     if s[2] == hist + "_bucket" and s[3].get("op") == op),
                                    key=lambda t: float(t[0])):
                    if c != prev:
                        name = ">=8388608" if le == "+Inf" else "<%d" % round(float(le) * 1e6)
                        got[name] = int(c - prev)
                    prev = c
                if got != v:
                    fail(0, f"stats requests.{op}.latency_us = {v} but the buckets say {got}")
                count = samples.get(series_key(hist + "_count", {"op": op}))
                if not count or int(float(count[4])) != sum(v.values()):
                    fail(0, f"requests.{op}: _count is not the sum of the stats buckets")
                checked += 1
            elif k == "latency_sum_us":
                key = series_key(hist + "_sum", {"op": op})
                if key not in samples or not math.isclose(float(samples[key][4]), v / 1e6, rel_tol=1e-9):
                    fail(0, f"stats requests.{op}.latency_sum_us = {v} but {key} is not that in seconds")
                checked += 1
            else:
                fail(0, f"stats requests.{op}.{k}: no metric known to this test")
    up = samples.get("rustfx_uptime_seconds{}")
    if not up or abs(float(up[4]) - stats["uptime_s"]) > 2:
        fail(0, f"uptime_s {stats.get('uptime_s')} vs rustfx_uptime_seconds {up and up[4]}")
    info = samples.get(series_key("rustfx_info", {"backend": stats["backend"]}))
    if not info or info[4] != "1":
        fail(0, f"no rustfx_info{{backend=\"{stats['backend']}\"}} 1")
    return checked


mode = sys.argv[1]
if mode == "check":
    samples, types = parse(sys.argv[2])
    hists = rules(samples, types)
    done("check")
    print(f"{len(types)} families, {len(samples)} samples, {len(hists)} histograms")
elif mode == "monotonic":
    old, _ = parse(sys.argv[2])
    new, _ = parse(sys.argv[3])
    grew = 0
    for key, s in old.items():
        if key not in new:
            fail(0, f"{key} vanished")
            continue
        if s[1] == "counter" or (s[1] == "histogram"):
            a, b = float(s[4]), float(new[key][4])
            if b < a:
                fail(0, f"{key} went down: {s[4]} -> {new[key][4]}")
            grew += b > a
    done("monotonic")
    print(f"{grew} series grew")
elif mode == "match":
    stats = json.load(open(sys.argv[2]))
    samples, types = parse(sys.argv[3])
    n = match(stats, samples)
    done("match")
    print(f"{n} stats fields match")
elif mode == "value":
    samples, _ = parse(sys.argv[2])
    want = sys.argv[3]
    for key, s in samples.items():
        if series_key(s[2], s[3]) == want or (not s[3] and s[2] == want):
            print(s[4])
            break
    else:
        sys.exit(f"no series {want}")
EOF

# The checker catches what it should (else a green run proves nothing).
BAD=$FX_TMP/bad.prom
printf '# TYPE rustfx_x_total counter\nrustfx_x_total 1\n' >"$BAD"
fx_ok "checker: a good exposition passes" python3 "$CHECK" check "$BAD"
for bad in \
	'rustfx_x_total 1\n' \
	'# TYPE rustfx_x_total counter\nrustfx_x_total{op="a} 1\n' \
	'# TYPE rustfx_x_total counter\nrustfx_x_total{op="a\\q"} 1\n' \
	'# TYPE rustfx_x_total counter\nrustfx_x_total 1x\n' \
	'# TYPE rustfx_x counter\nrustfx_x 1\n' \
	'# TYPE rustfx_x_total counter\nrustfx_x_total{op="a"} 1\nrustfx_x_total{op="a"} 2\n' \
	'# TYPE rustfx_a gauge\nrustfx_a 1\n# TYPE rustfx_b gauge\nrustfx_b 1\nrustfx_a 2\n' \
	'# TYPE rustfx_h histogram\nrustfx_h_bucket{le="1"} 2\nrustfx_h_bucket{le="+Inf"} 1\nrustfx_h_count 1\n' \
	'# TYPE rustfx_h histogram\nrustfx_h_bucket{le="1"} 1\nrustfx_h_bucket{le="+Inf"} 2\nrustfx_h_count 3\n' \
	'# TYPE rustfx_h histogram\nrustfx_h_bucket{le="1"} 1\nrustfx_h_count 1\n' \
	'# TYPE rustfx_u untyped\nrustfx_u 1\n' \
	'# TYPE rustfx_g gauge\nrustfx_g 1'; do
	printf '%b' "$bad" >"$BAD"
	fx_not "checker: refuses $(printf '%s' "$bad" | tr '\n' ' ' | cut -c1-90)" \
		python3 "$CHECK" check "$BAD"
done

# ---------------------------------------------------- scraping a mount

# scrape PORT OUT: GET /metrics into OUT (headers in OUT.h). Fails on an
# HTTP error or no connection.
# shellcheck disable=SC2317 # called through fx_ok
scrape() {
	curl -sS --max-time 10 -D "$2.h" -o "$2" -f "http://127.0.0.1:$1/metrics"
}

# snapshot MNT PORT PREFIX: the stats file and a scrape of the same moment:
# PREFIX.json and PREFIX.prom, read until the stats file reads the same
# (but for uptime) before and after the scrape, so background fetches that
# were still running cannot make them differ.
# shellcheck disable=SC2317 # called through fx_ok
snapshot() {
	local mnt=$1 port=$2 p=$3 i
	for ((i = 0; i < 50; i++)); do
		cat "$mnt/.rustfx/stats" >"$p.before" || return 1
		scrape "$port" "$p.prom" || return 1
		cat "$mnt/.rustfx/stats" >"$p.json" || return 1
		if python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop("uptime_s"); b.pop("uptime_s")
sys.exit(a != b)' "$p.before" "$p.json"; then
			return 0
		fi
		sleep 0.2
	done
	echo "the stats kept changing for 10 s" >&2
	return 1
}


prom_value() { python3 "$CHECK" value "$1" "$2"; }

PORT=$(free_port)
fx_mount "$BUCKET" "$MNT" "metrics=127.0.0.1:$PORT" "$CACHE" || fx_finish
PID1=$FX_LAST_PID

fx_ok "a first scrape answers" scrape "$PORT" "$FX_TMP/s0.prom"
fx_match "HTTP 200" "$(head -n 1 "$FX_TMP/s0.prom.h")" '^HTTP/1\.[01] 200'
fx_match "content type is the 0.0.4 text format" "$(tr -d '\r' <"$FX_TMP/s0.prom.h")" \
	'^Content-Type: text/plain; version=0\.0\.4; charset=utf-8$'
fx_ok "the first scrape parses" python3 "$CHECK" check "$FX_TMP/s0.prom"
fx_match "the log says where metrics are served" "$(cat "$FX_LAST_LOG")" \
	"serving metrics at http://127\.0\.0\.1:$PORT/metrics"
fx_eq "the server started after the mount was up" "mounted serving" \
	"$(grep -oE ' (mounted|serving metrics) ' "$FX_LAST_LOG" | awk '{ print $1 }' | xargs)"

fx_same_file "a.bin reads back through the mount" "$FX_TMP/a.bin" "$MNT/a.bin"
fx_ok "stats and scrape of one moment (1)" snapshot "$MNT" "$PORT" "$FX_TMP/s1"
fx_run python3 "$CHECK" check "$FX_TMP/s1.prom"
if [ "$FX_RC" -eq 0 ]; then fx_pass "scrape 1: every line is valid ($FX_OUT)"; else
	fx_fail "scrape 1: every line is valid" "$FX_ERR"; fi
fx_run python3 "$CHECK" match "$FX_TMP/s1.json" "$FX_TMP/s1.prom"
if [ "$FX_RC" -eq 0 ]; then fx_pass "scrape 1 has every number of the stats file ($FX_OUT)"; else
	fx_fail "scrape 1 has every number of the stats file" "$FX_ERR"; fi
for pair in cache.misses:rustfx_cache_misses_total cache.hits:rustfx_cache_hits_total \
	fetch.bytes_from_backend:rustfx_fetch_bytes_from_backend_total \
	cache.bytes_from_cache:rustfx_cache_bytes_from_cache_total \
	requests.get.calls:'rustfx_backend_requests_total{op="get"}'; do
	fx_eq "scrape 1: ${pair#*:} is the stats file's ${pair%%:*}" \
		"$(fx_stat "$FX_TMP/s1.json" "${pair%%:*}")" "$(prom_value "$FX_TMP/s1.prom" "${pair#*:}" 2>&1)"
done
fx_ok "reading a.bin missed the cache" test "$(fx_stat "$FX_TMP/s1.json" cache.misses)" -gt 0
fx_ok "and fetched its bytes" test "$(fx_stat "$FX_TMP/s1.json" fetch.bytes_from_backend)" -ge $((3 * MB))

fx_same_file "b.bin reads back through the mount" "$FX_TMP/b.bin" "$MNT/b.bin"
fx_ok "stats and scrape of one moment (2)" snapshot "$MNT" "$PORT" "$FX_TMP/s2"
fx_ok "scrape 2: every line is valid" python3 "$CHECK" check "$FX_TMP/s2.prom"
fx_run python3 "$CHECK" monotonic "$FX_TMP/s1.prom" "$FX_TMP/s2.prom"
if [ "$FX_RC" -eq 0 ]; then fx_pass "no counter went down from scrape 1 to 2 ($FX_OUT)"; else
	fx_fail "no counter went down from scrape 1 to 2" "$FX_ERR"; fi
fx_ok "scrape 2 has every number of the stats file" python3 "$CHECK" match "$FX_TMP/s2.json" "$FX_TMP/s2.prom"
GET1=$(prom_value "$FX_TMP/s1.prom" 'rustfx_backend_requests_total{op="get"}')
GET2=$(prom_value "$FX_TMP/s2.prom" 'rustfx_backend_requests_total{op="get"}')
fx_ok "GETs grew with the read of b.bin ($GET1 -> $GET2)" test "$GET2" -gt "$GET1"
CNT2=$(prom_value "$FX_TMP/s2.prom" 'rustfx_backend_request_duration_seconds_count{op="get"}')
fx_ok "the GET latency histogram counted them ($CNT2)" test "$CNT2" -gt 0

fx_run curl -sS --max-time 10 -I "http://127.0.0.1:$PORT/metrics"
fx_match "HEAD /metrics is 200" "$FX_OUT" '^HTTP/1\.[01] 200'
fx_eq "GET / is 404" 404 "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"
fx_eq "GET /metricsx is 404" 404 \
	"$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metricsx")"
fx_eq "POST /metrics is 405" 405 \
	"$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -d x "http://127.0.0.1:$PORT/metrics")"
fx_eq "only 127.0.0.1:$PORT listens" "$(printf '0100007F:%04X' "$PORT")" "$(listening "$PORT")"

fx_ok "unmount" fx_umount "$MNT" "$PID1"
fx_eq "the daemon exited 0" 0 "$FX_DAEMON_RC"
fx_eq "nothing listens on $PORT after unmount" "" "$(listening "$PORT")"
fx_not "a scrape after unmount is refused" curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics"
fx_match "the log says the server stopped" "$(cat "$FX_LAST_LOG")" "stopped serving metrics at 127\.0\.0\.1:$PORT"
fx_nomatch "libmicrohttpd logged no warning" "$(cat "$FX_LAST_LOG")" ' (warn|error) +fs: metrics:'

# ----------------------------- the same port again; a port alone; hits

fx_mount "$BUCKET" "$MNT" "metrics=$PORT" "$CACHE" || fx_finish
PID2=$FX_LAST_PID
fx_eq "metrics=PORT listens on 127.0.0.1 only" "$(printf '0100007F:%04X' "$PORT")" "$(listening "$PORT")"
fx_same_file "a.bin reads back after the remount" "$FX_TMP/a.bin" "$MNT/a.bin"
fx_ok "stats and scrape of one moment (3)" snapshot "$MNT" "$PORT" "$FX_TMP/s3"
fx_ok "scrape 3: every line is valid" python3 "$CHECK" check "$FX_TMP/s3.prom"
fx_ok "scrape 3 has every number of the stats file" python3 "$CHECK" match "$FX_TMP/s3.json" "$FX_TMP/s3.prom"
HITS=$(fx_stat "$FX_TMP/s3.json" cache.hits)
fx_ok "the remount read a.bin from the cache ($HITS hits)" test "$HITS" -gt 0
fx_eq "rustfx_cache_hits_total is the stats file's cache.hits" "$HITS" \
	"$(prom_value "$FX_TMP/s3.prom" rustfx_cache_hits_total 2>&1)"
fx_eq "rustfx_cache_bytes_from_cache_total is the stats file's" \
	"$(fx_stat "$FX_TMP/s3.json" cache.bytes_from_cache)" \
	"$(prom_value "$FX_TMP/s3.prom" rustfx_cache_bytes_from_cache_total 2>&1)"
fx_ok "unmount again" fx_umount "$MNT" "$PID2"
fx_eq "nothing listens on $PORT after the second unmount" "" "$(listening "$PORT")"

# ------------------------------------------------------------ IPv6

if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
	PORT6=$(free_port)
	fx_mount "$BUCKET" "$MNT" "metrics=[::1]:$PORT6" "$CACHE" || fx_finish
	fx_ok "metrics=[::1]:PORT answers on ::1" \
		curl -sS -g --max-time 10 -o "$FX_TMP/s6.prom" -f "http://[::1]:$PORT6/metrics"
	fx_ok "the IPv6 scrape is valid" python3 "$CHECK" check "$FX_TMP/s6.prom"
	fx_eq "only [::1]:$PORT6 listens (IPv6 only, no IPv4)" \
		"$(printf '00000000000000000000000001000000:%04X' "$PORT6")" "$(listening "$PORT6")"
	fx_ok "unmount the IPv6 mount" fx_umount "$MNT"
	fx_eq "nothing listens on $PORT6 after unmount" "" "$(listening "$PORT6")"
else
	fx_skip "metrics=[::1]:PORT" "this machine has no IPv6 loopback address"
fi

# ------------------ a daemonized mount, its address from the environment

PORT3=$(free_port)
MNT3=$FX_TMP/mnt-daemon
mkdir -p "$MNT3"
fx_ok "a daemonized mount with RUSTFX_MOUNT_METRICS" env RUSTFX_MOUNT_METRICS="127.0.0.1:$PORT3" \
	"$RUSTFX_BIN" mount -o "cache_dir=$FX_TMP/cache3,logfile=$FX_TMP/log.daemon" \
	"$(fx_url "$BUCKET")" "$MNT3"
FX_MOUNTS+=("$MNT3")
fx_ok "the daemon (after its fork) answers a scrape" scrape "$PORT3" "$FX_TMP/s4.prom"
fx_ok "scrape 4: every line is valid" python3 "$CHECK" check "$FX_TMP/s4.prom"
fx_ok "unmount the daemonized mount" "$RUSTFX_BIN" umount "$MNT3"
for ((i = 0; i < 50; i++)); do [ -z "$(listening "$PORT3")" ] && break; sleep 0.1; done
fx_eq "its port is free after unmount" "" "$(listening "$PORT3")"

# --------------------------------------------- configuration layers

fx_run env RUSTFX_MOUNT_METRICS=9999 "$RUSTFX_BIN" config print
fx_match "config print shows metrics from the environment" "$FX_OUT" \
	'^metrics = "9999"  # env RUSTFX_MOUNT_METRICS$'
mkdir -p "$FX_TMP/conf"
printf '[mount]\nmetrics = "127.0.0.1:9998"\n' >"$FX_TMP/conf/rustfx.toml"
fx_run "$RUSTFX_BIN" -c "$FX_TMP/conf/rustfx.toml" config print
fx_match "config print shows metrics from rustfx.toml" "$FX_OUT" \
	'^metrics = "127\.0\.0\.1:9998"  # file .*rustfx\.toml:2$'
fx_run "$RUSTFX_BIN" config print
fx_match "config print shows metrics unset by default" "$FX_OUT" '^# metrics is unset'
fx_run "$RUSTFX_BIN" mount --help
fx_match "mount --help lists metrics=" "$FX_OUT" '^  metrics=VALUE'

# ------------------------------------------------------- refusals

# refused DESC WANT-RC OPTS: the mount fails before mounting, with one
# error line and a hint (its stderr left in REFUSED_ERR).
refused() {
	fx_status "$1: exit $2" "$2" timeout 30 "$RUSTFX_BIN" mount -f \
		-o "cache_dir=$FX_TMP/cache-bad,logfile=$FX_TMP/log.refused,$3" "$(fx_url "$BUCKET")" "$MNT"
	REFUSED_ERR=$FX_ERR
	fx_match "$1: one error line" "$REFUSED_ERR" '^error: '
	fx_match "$1: a hint" "$REFUSED_ERR" '^hint: '
	fx_eq "$1: nothing else on stderr" 2 "$(printf '%s\n' "$REFUSED_ERR" | wc -l)"
	fx_not "$1: nothing mounted" fx_is_mounted "$MNT"
}

refused "metrics=300.1.1.1:9567" 2 "metrics=300.1.1.1:9567"
refused "metrics=127.0.0.1:0" 2 "metrics=127.0.0.1:0"
refused "metrics=localhost:9567" 2 "metrics=localhost:9567"
refused "metrics=127.0.0.1:" 2 "metrics=127.0.0.1:"
refused "metrics=::1:9567" 2 "metrics=::1:9567"
fx_status "a bad RUSTFX_MOUNT_METRICS fails the mount: exit 2" 2 env RUSTFX_MOUNT_METRICS=abc \
	timeout 30 "$RUSTFX_BIN" mount -f -o "cache_dir=$FX_TMP/cache-bad" "$(fx_url "$BUCKET")" "$MNT"
fx_match "it names the address" "$FX_ERR" "^error: .*'abc'"
# 192.0.2.0/24 is reserved for documentation: no machine has it. Binding
# sends nothing anywhere.
refused "an address not on this machine" 2 "metrics=192.0.2.1:$PORT"
fx_match "it says so" "$REFUSED_ERR" 'no such address on this machine'

HOLD=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("ready", flush=True); time.sleep(60)' "$HOLD" >"$FX_TMP/hold.out" &
HOLD_PID=$!
for ((i = 0; i < 50; i++)); do grep -q ready "$FX_TMP/hold.out" 2>/dev/null && break; sleep 0.1; done
refused "a port in use" 1 "metrics=127.0.0.1:$HOLD"
fx_match "it says the port is in use" "$REFUSED_ERR" 'port is in use'
kill "$HOLD_PID" 2>/dev/null
wait "$HOLD_PID" 2>/dev/null

fx_finish
