#!/usr/bin/env bash
#
# test_fxproxy.sh - self-test of tests/s3/fxproxy.py, the fault injecting
# proxy, with no S3 server: a tiny python3 http.server upstream on 127.0.0.1
# and curl as the client. Checks pass-through (bytes, headers, keep-alive,
# chunked both ways, 100-continue), every selector and action, the control
# endpoint, stats, logging and shutdown.
#
# Needs python3 and curl; everything listens on 127.0.0.1 only and every
# process and request is bounded by a timeout. Prints "N passed, N failed"
# and exits non-zero on any failure.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FXPROXY=$HERE/fxproxy.py
TMP=$(mktemp -d /tmp/fxproxy-test.XXXXXX) || exit 1
PIDS=()
# shellcheck source=../report.sh
. "$HERE/../report.sh"

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

eq() { if [ "$2" == "$3" ]; then fx_pass "$1"; else fx_fail "$1" "expected: $2" "got:      $3"; fi; }
has() { if grep -Eq -- "$3" <<<"$2"; then fx_pass "$1"; else fx_fail "$1" "expected a line matching: $3" "in: $2"; fi; }
# ge DESC A B: the number A is at least B.
ge() { if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 >= b + 0) }'; then fx_pass "$1"; else fx_fail "$1" "$2 < $3"; fi; }
# lt DESC A B: the number A is below B.
lt() { if awk -v a="$2" -v b="$3" 'BEGIN { exit !(a + 0 < b + 0) }'; then fx_pass "$1"; else fx_fail "$1" "$2 >= $3"; fi; }
finish() {
	fx_report
	exit
}

command -v curl >/dev/null || { echo "error: curl is needed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "error: python3 is needed" >&2; exit 1; }

# wait_line FILE REGEX: up to 10 s for a line of FILE to match.
wait_line() {
	local i
	for i in $(seq 100); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# -------------------------------------------------------------- upstream

cat >"$TMP/upstream.py" <<'EOF'
# GET /obj: 1 MiB of fixed bytes with Content-Length; GET /chunked: the same,
# chunked; GET /echo-headers: the request headers as received; PUT: the
# sha256 of the body (Content-Length or chunked); HEAD /obj; GET /xml: a
# small S3-like listing, chunked as radosgw sends them; any other GET: a
# short body naming the path.
import hashlib, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OBJ = bytes((i * 131 + (i >> 12)) & 255 for i in range(1 << 20))
XML = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name>'
       + b"".join(b"<Contents><Key>dir/file-%04d</Key><Size>%d</Size></Contents>" % (i, i)
                  for i in range(40)) + b"<IsTruncated>false</IsTruncated></ListBucketResult>")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body, head_only=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_HEAD(self):
        self.reply(OBJ if self.path == "/obj" else b"", head_only=True)

    def do_GET(self):
        if self.path == "/obj":
            self.reply(OBJ)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(OBJ), 10000):
                piece = OBJ[i:i + 10000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/xml":
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(XML), XML))
        elif self.path == "/echo-headers":
            self.reply("".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode())
        else:
            self.reply(f"path {self.path}\n".encode())

    def do_PUT(self):
        digest = hashlib.sha256()
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while (size := int(self.rfile.readline().split(b";")[0], 16)):
                digest.update(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
        else:
            left = int(self.headers.get("Content-Length", 0))
            while left:
                piece = self.rfile.read(min(left, 65536))
                digest.update(piece)
                left -= len(piece)
        self.reply(digest.hexdigest().encode())

ThreadingHTTPServer.request_queue_size = 128  # not 5: a burst must not meet RSTs
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{server.server_address[1]}\n")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
EOF

timeout 600 python3 "$TMP/upstream.py" "$TMP/upstream.port" 2>"$TMP/upstream.err" &
PIDS+=($!)
if ! wait_line "$TMP/upstream.port" '^[0-9]+$'; then
	fx_fail "upstream starts" "$(cat "$TMP/upstream.err")"
	finish
fi
UP_PORT=$(cat "$TMP/upstream.port")
UP=http://127.0.0.1:$UP_PORT

# ----------------------------------------------------------------- proxy

timeout 600 python3 "$FXPROXY" --listen 127.0.0.1:0 --upstream "$UP" --verbose \
	--port-file "$TMP/proxy.port" \
	--rule 'method=GET,path=^/every$,every=3,action=status:503,retry_after=2' \
	--rule 'method=*,path=^/cli-latency$,action=latency:10' \
	>"$TMP/proxy.out" 2>"$TMP/proxy.err" &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
if ! wait_line "$TMP/proxy.out" '^listening '; then
	fx_fail "proxy starts" "$(cat "$TMP/proxy.out" "$TMP/proxy.err")"
	finish
fi
has "first stdout line is 'listening 127.0.0.1:PORT'" "$(head -1 "$TMP/proxy.out")" '^listening 127\.0\.0\.1:[0-9]+$'
PORT=$(head -1 "$TMP/proxy.out" | sed 's/.*://')
wait_line "$TMP/proxy.port" '^[0-9]+$'
eq "--port-file holds the same port" "$PORT" "$(cat "$TMP/proxy.port" 2>/dev/null)"
P=http://127.0.0.1:$PORT
CTL=$P/__fxproxy

C=(curl -sS --max-time 20)
sha() { sha256sum | cut -d' ' -f1; }
# code URL [CURL-ARGS...]: the status code of one request, body discarded.
code() { "${C[@]}" -o /dev/null -w '%{http_code}' "$@"; }
rules() { "${C[@]}" -X POST --data-binary "$1" "$CTL/rules"; }
stat_of() { "${C[@]}" "$CTL/stats" | python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, d))" "$1"; }
# elapsed CMD...: run CMD, set RC and SECS (wall time).
elapsed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@"
	RC=$?
	t1=$(date +%s.%N)
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# ---------------------------------------------------------- pass-through

"${C[@]}" -o "$TMP/obj.direct" "$UP/obj"
"${C[@]}" -o "$TMP/obj.proxy" "$P/obj"
eq "GET /obj through the proxy is 1 MiB" 1048576 "$(stat -c %s "$TMP/obj.proxy" 2>&1)"
eq "GET /obj through the proxy is byte-identical (sha256)" "$(sha <"$TMP/obj.direct")" "$(sha <"$TMP/obj.proxy")"
eq "chunked GET through the proxy is byte-identical" "$(sha <"$TMP/obj.direct")" "$("${C[@]}" "$P/chunked" | sha)"

out=$("${C[@]}" -I "$P/obj" 2>&1)
has "HEAD /obj answers 200" "$out" '^HTTP/1.1 200'
has "HEAD /obj keeps Content-Length" "$out" '^Content-Length: 1048576'

head -c 1572864 "$TMP/obj.direct" >"$TMP/put.bin"
cat "$TMP/obj.direct" >>"$TMP/put.bin"
want=$(sha <"$TMP/put.bin")
eq "PUT with Content-Length and Expect: 100-continue" "$want" \
	"$("${C[@]}" -T "$TMP/put.bin" -H 'Expect: 100-continue' "$P/put1")"
eq "PUT with Content-Length, no Expect" "$want" "$("${C[@]}" -T "$TMP/put.bin" -H 'Expect:' "$P/put2")"
eq "PUT with a chunked body" "$want" "$("${C[@]}" -T - -H 'Expect:' "$P/put3" <"$TMP/put.bin")"

AUTH='AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd'
out=$("${C[@]}" -H "Authorization: $AUTH" -H 'X-MiXeD-Case:  two  spaces' -H 'x-amz-date: 20240101T000000Z' "$P/echo-headers")
has "Host reaches the upstream unchanged (the proxy's host:port)" "$out" "^Host: 127\.0\.0\.1:$PORT\$"
eq "Authorization reaches the upstream byte-for-byte" "Authorization: $AUTH" "$(grep '^Authorization:' <<<"$out")"
has "header name case and inner spacing are kept" "$out" '^X-MiXeD-Case: two  spaces$'

"${C[@]}" -X DELETE "$CTL/stats" >/dev/null
out=$("${C[@]}" -v "$P/a" "$P/b" 2>&1)
has "keep-alive: curl reuses the connection for a second URL" "$out" 'Re-using existing connection'
has "keep-alive: both answers arrive" "$out" '^path /b$'
eq "keep-alive: the proxy saw one connection, two requests" "1 2" "$(stat_of 'connections, requests_total' | tr -d '(),')"

# ------------------------------------------------------- rules from --rule

got=""
for i in $(seq 9); do
	c=$("${C[@]}" -D "$TMP/h$i" -o "$TMP/b$i" -w '%{http_code}' "$P/every")
	got="$got $c"
done
eq "every=3 (from --rule) answers 503 to exactly requests 3, 6, 9" " 200 200 503 200 200 503 200 200 503" "$got"
has "503 body is an S3 SlowDown error" "$(cat "$TMP/b3")" '<Error><Code>SlowDown</Code>'
has "503 carries Retry-After" "$(cat "$TMP/h6")" '^Retry-After: 2'
has "503 is application/xml" "$(cat "$TMP/h9")" '^Content-Type: application/xml'
got=$("${C[@]}" -o /dev/null -o /dev/null -o /dev/null -w '%{http_code} ' "$P/every" "$P/every" "$P/every")
eq "every=3 on one keep-alive connection: 10, 11 pass, 12 fails" "200 200 503 " "$got"
has "--verbose logs method, path, status and fault" "$(cat "$TMP/proxy.err")" '^fxproxy: GET /every 503 status:503'
has "--verbose logs latency" "$("${C[@]}" -o /dev/null "$P/cli-latency"; sleep 0.2; cat "$TMP/proxy.err")" \
	'^fxproxy: GET /cli-latency 200 - \+10ms'

# ----------------------------------------------------------- control API

out=$(rules '[{"method":"GET","path":"^/lat$","latency":400}, "method=GET,path=^/first$,first=2,action=status:500"]')
has "POST /__fxproxy/rules accepts objects and compact strings" "$out" '"latency": 400'
out=$("${C[@]}" "$CTL/rules")
has "GET /__fxproxy/rules lists the new rules" "$out" '"path": "\^/first\$"'
eq "replaced rules: /every no longer fails" "200 200 200" "$(code "$P/every") $(code "$P/every") $(code "$P/every")"
t=$("${C[@]}" -o /dev/null -w '%{time_total}' "$P/lat")
ge "latency=400 adds at least 0.4 s (took $t s)" "$t" 0.4
t=$("${C[@]}" -o /dev/null -w '%{time_total}' "$P/not-lat")
lt "latency only where the rule matches ($t s)" "$t" 0.3
got="$(code "$P/first") $(code "$P/first") $(code "$P/first") $(code "$P/first")"
eq "first=2 status:500 fails only the first two" "500 500 200 200" "$got"
rules '["method=GET,path=^/first$,first=1,action=status:500"]' >/dev/null
has "500 body is an S3 InternalError" "$("${C[@]}" "$P/first")" '<Code>InternalError</Code>'

out=$("${C[@]}" -w '%{http_code}' -X POST --data-binary '[{"method":"GET","every":0}' "$CTL/rules")
has "bad JSON is refused with 400" "$out" '400$'
out=$("${C[@]}" -w '%{http_code}' -X POST --data-binary '[{"bogus":1}]' "$CTL/rules")
has "unknown rule key is refused with 400" "$out" '^400$'
has "... naming the key" "$out" 'unknown rule key.*bogus'
has "a refused POST leaves the rules as they were" "$("${C[@]}" "$CTL/rules")" '"first": 1'
eq "unknown control path is 404" 404 "$(code "$CTL/nothing")"

pattern() {
	local i s=""
	for i in $(seq 20); do s="$s$(code "$P/prob")"; done
	echo "$s" | sed 's/200/./g; s/503/X/g'
}
rules '[{"path":"^/prob$","prob":0.5,"status":503}]' >/dev/null
p1=$(pattern)
rules '[{"path":"^/prob$","prob":0.5,"status":503}]' >/dev/null
p2=$(pattern)
eq "prob=0.5 is deterministic for a seed ($p1)" "$p1" "$p2"
has "prob=0.5 both passes and fails" "$p1" '\..*X|X.*\.'

# ------------------------------------------------------ mid-body faults

rules '["method=GET,path=^/obj$,action=reset_mid_body"]' >/dev/null
elapsed "${C[@]}" -o "$TMP/reset.out" "$P/obj" 2>"$TMP/reset.err"
eq "reset_mid_body: curl exits 56 ($(cat "$TMP/reset.err"))" 56 "$RC"
has "reset_mid_body: curl reports a reset/recv failure" "$(cat "$TMP/reset.err")" 'Recv failure|reset'
size=$(stat -c %s "$TMP/reset.out" 2>/dev/null || echo 0)
lt "reset_mid_body: the body is cut short ($size bytes arrived)" "$size" 1048576

rules '["method=GET,path=^/obj$,action=truncate"]' >/dev/null
"${C[@]}" -o "$TMP/trunc.out" "$P/obj" 2>"$TMP/trunc.err"
eq "truncate: curl exits 18 (partial file)" 18 "$?"
eq "truncate: half the Content-Length arrived" 524288 "$(stat -c %s "$TMP/trunc.out" 2>&1)"
rules '["method=GET,path=^/obj$,truncate,after=1000"]' >/dev/null
"${C[@]}" -o "$TMP/trunc.out" "$P/obj" 2>/dev/null
eq "truncate,after=1000: curl exits 18" 18 "$?"
eq "truncate,after=1000: 1000 bytes arrived" 1000 "$(stat -c %s "$TMP/trunc.out" 2>&1)"
rules '["method=GET,path=^/chunked$,action=truncate"]' >/dev/null
"${C[@]}" -o /dev/null "$P/chunked" 2>/dev/null
eq "truncate of a chunked body: curl exits 18" 18 "$?"

rules '["method=GET,path=^/obj$,action=stall:30"]' >/dev/null
elapsed "${C[@]}" -o /dev/null --speed-limit 1000 --speed-time 2 "$P/obj" 2>"$TMP/stall.err"
eq "stall=30: curl --speed-limit 1000 --speed-time 2 gives up with 28" 28 "$RC"
# curl averages the speed over a few seconds, so the burst before the stall delays it.
ge "stall: curl waited for --speed-time ($SECS s)" "$SECS" 1.5
lt "stall: it was the speed limit, not --max-time 20" "$SECS" 12
rules '["method=GET,path=^/obj$,stall=1"]' >/dev/null
elapsed "${C[@]}" -o "$TMP/stall.out" "$P/obj"
eq "stall=1: the transfer resumes and completes" "0 $(sha <"$TMP/obj.direct")" "$RC $(sha <"$TMP/stall.out")"
ge "stall=1: it paused at least 1 s ($SECS s)" "$SECS" 1

rules '["method=GET,path=^/obj$,bandwidth=1048576"]' >/dev/null
elapsed "${C[@]}" -o "$TMP/bw.out" "$P/obj"
eq "bandwidth: the body is intact" "$(sha <"$TMP/obj.direct")" "$(sha <"$TMP/bw.out")"
ge "bandwidth=1 MiB/s: 1 MiB takes at least 0.9 s ($SECS s)" "$SECS" 0.9

rules '["method=HEAD,action=status:503", "method=PUT,every=2,action=status:503+latency:50"]' >/dev/null
out=$("${C[@]}" -I "$P/obj" 2>&1)
has "HEAD with status:503 answers 503 (no body to wait for)" "$out" '^HTTP/1.1 503'
eq "PUT 1 passes (every=2)" "$want" "$("${C[@]}" -T "$TMP/put.bin" "$P/p")"
elapsed code "$P/p" -T "$TMP/put.bin" -H 'Expect: 100-continue' >"$TMP/put2.code" 2>/dev/null
eq "PUT 2 with Expect: 100-continue gets 503" 503 "$(cat "$TMP/put2.code")"
lt "PUT 2: answered before curl's 1 s Expect wait ($SECS s)" "$SECS" 0.9
eq "PUT 3 passes" 200 "$(code "$P/p" -X PUT -H 'Expect:' --data-binary 'small body')"
"${C[@]}" -X DELETE "$CTL/stats" >/dev/null
got=$("${C[@]}" -o /dev/null -w '%{http_code} ' -X PUT -H 'Expect:' --data-binary 'small body' "$P/p" \
	--next -sS --max-time 20 -o /dev/null -w '%{http_code}' "$P/after")
eq "PUT 4 gets 503 and the connection goes on to the next request" "503 200" "$got"
eq "... on one connection" 1 "$(stat_of connections)"

# ------------------------------------------------------ rewritten bodies

xml_ok() { python3 -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$1" 2>/dev/null; }
"${C[@]}" -o "$TMP/xml.direct" "$UP/xml"
"${C[@]}" -o "$TMP/xml.proxy" "$P/xml"
eq "GET /xml (chunked) through the proxy is byte-identical" "$(sha <"$TMP/xml.direct")" "$(sha <"$TMP/xml.proxy")"
eq "... and well-formed XML" 0 "$(xml_ok "$TMP/xml.proxy"; echo $?)"

rules '["method=GET,path=^/obj$,action=shorten"]' >/dev/null
"${C[@]}" -D "$TMP/short.h" -o "$TMP/short.out" "$P/obj" 2>"$TMP/short.err"
eq "shorten: curl sees a complete answer (exit 0)" 0 "$?"
eq "shorten: half the body arrived" 524288 "$(stat -c %s "$TMP/short.out" 2>&1)"
has "shorten: Content-Length says so" "$(cat "$TMP/short.h")" '^Content-Length: 524288'
eq "shorten: what arrived is the start of the body" 0 "$(cmp -s -n 524288 "$TMP/short.out" "$TMP/obj.direct"; echo $?)"
rules '["method=GET,path=^/xml$,shorten,after=100"]' >/dev/null
"${C[@]}" -D "$TMP/short.h" -o "$TMP/short.out" "$P/xml" 2>/dev/null
eq "shorten,after=100 of a chunked listing: exit 0, 100 bytes" "0 100" "$? $(stat -c %s "$TMP/short.out" 2>&1)"
has "... sent with a Content-Length, not chunked" "$(cat "$TMP/short.h")" '^Content-Length: 100'
eq "... the XML is truncated (does not parse)" 1 "$(xml_ok "$TMP/short.out"; echo $?)"

rules '["method=GET,path=^/xml$,action=malform"]' >/dev/null
"${C[@]}" -o "$TMP/mal.out" "$P/xml" 2>/dev/null
eq "malform: curl exit 0" 0 "$?"
eq "malform: the body grew by the marker" $(($(stat -c %s "$TMP/xml.direct") + 20)) "$(stat -c %s "$TMP/mal.out" 2>&1)"
has "malform: the marker is in the middle" "$(cat "$TMP/mal.out")" '.{100}</fxproxy-malformed>.{100}'
eq "malform: the XML does not parse" 1 "$(xml_ok "$TMP/mal.out"; echo $?)"
eq "malform: without the marker it is the true body" "$(sha <"$TMP/xml.direct")" \
	"$(sed 's:</fxproxy-malformed>::' "$TMP/mal.out" | sha)"

eq "stats count the shorten and malform faults" "2 1" "$(stat_of 'faults["shorten"], faults["malform"]' | tr -d '(),')"
"${C[@]}" -X DELETE "$CTL/stats" >/dev/null
rules '["method=GET,path=^/obj$,length_delta=-1000"]' >/dev/null
"${C[@]}" -D "$TMP/ld.h" -o "$TMP/ld.out" "$P/obj" --next -sS --max-time 20 -o /dev/null "$P/after" 2>"$TMP/ld.err"
has "length_delta=-1000: Content-Length is 1000 short" "$(cat "$TMP/ld.h")" '^Content-Length: 1047576'
eq "length_delta=-1000: curl takes that many bytes" 1047576 "$(stat -c %s "$TMP/ld.out" 2>&1)"
has "length_delta: the proxy says Connection: close" "$(cat "$TMP/ld.h")" '^Connection: close'
eq "length_delta: the next request needs a new connection" 2 "$(stat_of connections)"
rules '["method=GET,path=^/obj$,length_delta=1000"]' >/dev/null
"${C[@]}" -o "$TMP/ld.out" "$P/obj" 2>/dev/null
eq "length_delta=+1000: curl exits 18 after the whole body" "18 1048576" "$? $(stat -c %s "$TMP/ld.out" 2>&1)"
eq "stats count the length_delta faults" 2 "$(stat_of 'faults["length_delta"]')"
rules '["method=HEAD,path=^/obj$,action=shorten"]' >/dev/null
has "a bodiless answer passes a rewrite fault unchanged" "$("${C[@]}" -I "$P/obj" 2>&1)" '^Content-Length: 1048576'

# ---------------------------------------------------------------- stats

"${C[@]}" -X DELETE "$CTL/stats" >/dev/null
rules '[{"method":"GET","path":"^/st$","every":2,"status":503}]' >/dev/null
for i in 1 2 3 4; do code "$P/st" >/dev/null; done
"${C[@]}" -I "$P/obj" >/dev/null
"${C[@]}" -T "$TMP/put.bin" "$P/st-put" >/dev/null
eq "stats: requests per method and in all" "4 1 1 6" \
	"$(stat_of 'requests["GET"], requests["HEAD"], requests["PUT"], requests_total' | tr -d '(),')"
eq "stats: faults and responses" "2 2 4" "$(stat_of 'faults["status"], responses["503"], responses["200"]' | tr -d '(),')"
ge "stats: bytes_up counts the PUT body" "$(stat_of bytes_up)" "$(stat -c %s "$TMP/put.bin")"
ge "stats: bytes_down counts the responses" "$(stat_of bytes_down)" 100
"${C[@]}" -X DELETE "$CTL/rules" >/dev/null
eq "DELETE /__fxproxy/rules leaves no rules" '{"rules":[]}' "$("${C[@]}" "$CTL/rules" | tr -d '\n ')"
eq "the control endpoint is not counted as traffic" 6 "$(stat_of requests_total)"

# ------------------------------------------------------- start and stop

rules '["method=GET,path=^/obj$,stall=60"]' >/dev/null
"${C[@]}" -o /dev/null "$P/obj" 2>/dev/null &
CURL_PID=$!
PIDS+=("$CURL_PID")
sleep 0.5
t0=$(date +%s.%N)
kill -TERM "$PROXY_PID"
for i in $(seq 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.1; done
t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
kill -0 "$PROXY_PID" 2>/dev/null && kill -KILL "$PROXY_PID"
wait "$PROXY_PID"
eq "SIGTERM with a stalled transfer open: exit 0 within 5 s ($t s)" "0 yes" \
	"$? $(awk -v t="$t" 'BEGIN { print (t < 5) ? "yes" : "no" }')"
wait "$CURL_PID"
rc=$?
ge "the stalled client sees its connection end (curl exit $rc)" "$rc" 1

out=$(timeout 10 python3 "$FXPROXY" --upstream "$UP" --rule 'method=GET,every=2,first=3' 2>&1)
rc=$?
eq "a bad --rule is refused with exit 2" 2 "$rc"
has "... saying why" "$out" 'at most one of every/first/prob'

# An upstream nobody listens on: the port of a server that has exited.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 60 python3 "$FXPROXY" --upstream "http://127.0.0.1:$DEAD" >"$TMP/dead.out" 2>&1 &
PIDS+=($!)
if wait_line "$TMP/dead.out" '^listening '; then
	DP=http://127.0.0.1:$(head -1 "$TMP/dead.out" | sed 's/.*://')
	eq "an unreachable upstream gives 502" 502 "$(code "$DP/x")"
	eq "... and counts an upstream error" 1 "$("${C[@]}" "$DP/__fxproxy/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upstream_errors"])')"
else
	fx_fail "a proxy for a dead upstream starts" "$(cat "$TMP/dead.out")"
fi
has "--help documents the rules" "$(timeout 10 python3 "$FXPROXY" --help)" 'reset_mid_body'

finish
