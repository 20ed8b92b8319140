#!/usr/bin/env python3
"""fxproxy - a fault and latency injecting HTTP/1.1 reverse proxy for the S3 tests.

Owns: relaying S3 traffic to one upstream unchanged - method, target, every
header byte-for-byte (Host too: SigV4 signs it, and the server checks the Host
it receives), bodies streamed both ways with Content-Length or chunked framing,
keep-alive, one upstream connection per client connection - and injecting the
faults the rules ask for. It never retries and never sends anything a client
did not cause. Does not own: S3 semantics, TLS, what a test makes of a fault.

  fxproxy.py --upstream http://127.0.0.1:9000 [--listen 127.0.0.1:0] [--rule R]...
             [--seed N] [--port-file PATH] [--verbose]
The first stdout line is "listening HOST:PORT"; SIGTERM/SIGINT stop it cleanly.

A rule is comma-separated key=value ("\\," is a comma inside a value):
  match    method=GET|PUT|HEAD|POST|DELETE|* (default *; "GET|PUT" is a set),
           path=REGEX (searched in the path), query=SUBSTRING
  select   every=N (matches N, 2N, ...), first=N, prob=P (seeded by --seed);
           none: every match. Each rule counts its own matches.
  action   action=KIND[:ARG][+KIND[:ARG]...], or the same as keys:
           latency=MS      sleep before forwarding (selected rules add up)
           bandwidth=B     response at B bytes/s (the lowest selected wins)
           status=CODE     answer without asking upstream, S3 XML error body:
                           503 SlowDown, 500 InternalError... (code=NAME to
                           choose), retry_after=S adds a Retry-After header
           reset_mid_body  send part of the response, then RST (SO_LINGER 0)
           stall=S         send part of the response, send nothing for S
                           seconds (connection open), then the rest
           truncate        send part of the response, then close cleanly
           after=BYTES     where those three cut the body; default half the
                           Content-Length, else half of the last piece. A
                           bodiless response is cut inside its header block.
           shorten         a well-framed but short answer: the body ends at
                           after= (default half) and Content-Length says so
                           (a truncated XML listing; a ranged GET shorter
                           than its Content-Range)
           malform         the XML is broken: MALFORMED (an end tag nothing
                           opened) is inserted at after= (default half the
                           body), Content-Length counts it
           length_delta=D  Content-Length says the true length + D (D < 0:
                           the extra bytes follow the body), then hang up
           These three read the whole body first (at most 64 MiB, chunks
           undone) and send it with a Content-Length; a bodiless response
           passes unchanged.
  The first selected rule with a fault injects it; latency and bandwidth of
  all selected rules apply too. E.g. --rule 'method=GET,every=5,action=status:503'

Control endpoint (JSON, answered by the proxy, never counted or forwarded;
S3 bucket names cannot start with "_"):
  GET    /__fxproxy/rules  rules with their matched/fired counters
  POST   /__fxproxy/rules  replace them all with a JSON list of objects (keys
                           as above) or compact strings: [{"every":3,"status":503}]
  DELETE /__fxproxy/rules  no rules
  GET    /__fxproxy/stats  requests{METHOD}, requests_total, responses{STATUS},
                           faults{KIND}, bytes_up/bytes_down (all bytes sent
                           upstream / to clients), connections, upstream_errors
  DELETE /__fxproxy/stats  zero the counters
"""
import argparse, asyncio, json, os, random, re, signal, socket, struct, sys, time
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

CUTS = ("reset_mid_body", "stall", "truncate")  # the faults that cut a forwarded response
REWRITES = ("shorten", "malform", "length_delta")  # the faults that change a whole body
FAULTS = ("status",) + CUTS + REWRITES
MALFORMED = b"</fxproxy-malformed>"
REWRITE_MAX = 64 << 20
S3_CODES = {400: "InvalidRequest", 403: "AccessDenied", 404: "NoSuchKey", 409: "OperationAborted",
            412: "PreconditionFailed", 416: "InvalidRange", 429: "SlowDown", 500: "InternalError",
            501: "NotImplemented", 503: "SlowDown"}
MESSAGES = {"SlowDown": "Please reduce your request rate.",
            "InternalError": "We encountered an internal error. Please try again."}
KEYS = {"method": str, "path": str, "query": str, "every": int, "first": int, "prob": float,
        "latency": float, "bandwidth": int, "status": int, "code": str, "retry_after": str,
        "reset_mid_body": bool, "stall": float, "truncate": bool, "after": int,
        "shorten": bool, "malform": bool, "length_delta": int}
PIECE = 65536
DROPPED = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


class Cut(Exception):
    """An injected fault has ended the client connection."""


class Rule:
    def __init__(self, spec, index, seed):
        if isinstance(spec, str):  # compact form: key=value,key=value,flag
            items = (i.replace("\\,", ",").partition("=") for i in re.split(r"(?<!\\),", spec))
            spec = {k.strip(): v if eq else True for k, eq, v in items if k.strip()}
        if not isinstance(spec, dict):
            raise ValueError("a rule is a compact string or a JSON object")
        spec = dict(spec)
        for act in str(spec.pop("action", "") or "").split("+"):
            if act:
                kind, colon, arg = act.partition(":")
                spec[kind.strip()] = arg if colon else True
        if set(spec) - set(KEYS):
            raise ValueError(f"unknown rule key(s): {', '.join(sorted(set(spec) - set(KEYS)))}")
        as_bool = lambda v: v is True or str(v).lower() in ("1", "true", "yes", "on")
        self.spec = s = {k: as_bool(v) if KEYS[k] is bool else KEYS[k](v) for k, v in spec.items()}
        self.methods = None if s.get("method", "*") == "*" else set(s["method"].upper().split("|"))
        self.path = re.compile(s["path"]) if "path" in s else None
        faults = [k for k in FAULTS if s.get(k)]
        if len([k for k in ("every", "first", "prob") if k in s]) > 1 or len(faults) > 1:
            raise ValueError("a rule has at most one of every/first/prob and one fault")
        if s.get("every", 1) < 1 or s.get("first", 0) < 0 or not 0 <= s.get("prob", 0) <= 1:
            raise ValueError("every>=1, first>=0, 0<=prob<=1")
        if not 100 <= s.get("status", 100) <= 599:
            raise ValueError("status is an HTTP status code")
        self.fault = faults[0] if faults else None
        self.rng = random.Random(f"{seed}:{index}")  # per rule: the others do not shift it
        self.matched = self.fired = 0

    def select(self, method, path, query):
        s = self.spec
        if (self.methods and method not in self.methods) or (self.path and not self.path.search(path)) \
                or s.get("query", "") not in query:
            return False
        self.matched += 1
        hit = (self.matched % s["every"] == 0 if "every" in s else self.matched <= s["first"] if "first" in s
               else self.rng.random() < s["prob"] if "prob" in s else True)
        self.fired += hit
        return hit


class Plan:
    """What the rules do to one request."""
    def __init__(self):
        self.latency, self.bandwidth, self.rule, self.fault = 0.0, None, None, None


async def read_head(reader):
    """(raw bytes, start-line words, lower-cased headers), or None at a clean EOF."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise
        return None
    lines = raw.lstrip(b"\r\n")[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"bad header line {line!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return raw, lines[0].split(" ", 2), headers


async def body_pieces(reader, headers, until_close):
    """The body as raw wire pieces, chunk framing kept."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while size := int((line := await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16):
            yield line
            async for piece in fixed(reader, size + 2):
                yield piece
        while (more := await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
            line += more
        yield line + b"\r\n"
    elif "content-length" in headers:
        async for piece in fixed(reader, int(headers["content-length"])):
            yield piece
    elif until_close:
        while piece := await reader.read(PIECE):
            yield piece


async def payload(reader, headers):
    """The whole body with chunk framing undone (trailers dropped), at most REWRITE_MAX."""
    out = bytearray()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16):
            if len(out) + size > REWRITE_MAX:
                raise ValueError("body too big to rewrite")
            out += (await reader.readexactly(size + 2))[:-2]
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass
    elif "content-length" in headers:
        if int(headers["content-length"]) > REWRITE_MAX:
            raise ValueError("body too big to rewrite")
        out += await reader.readexactly(int(headers["content-length"]))
    else:
        while piece := await reader.read(PIECE):
            if len(out) + len(piece) > REWRITE_MAX:
                raise ValueError("body too big to rewrite")
            out += piece
    return bytes(out)


async def fixed(reader, left):
    while left > 0:
        piece = await reader.readexactly(min(left, PIECE))
        left -= len(piece)
        yield piece


class Sink:
    """Writes one response to the client, with the bandwidth limit and the cut faults."""

    def __init__(self, conn, plan):
        self.conn, self.w, self.bw = conn, conn.w, plan.bandwidth
        self.rule = plan.rule if plan.fault in CUTS else None
        self.sent, self.cut, self.fired, self.t0 = 0, None, False, time.monotonic()

    def start(self, head_len, total):
        """total: the body length, 0 without a body, None when not known."""
        self.t0 = time.monotonic()
        after = self.rule and self.rule.spec.get("after")
        if not self.rule:
            return
        if total == 0:
            self.cut = head_len // 2
        elif after is not None:
            self.cut = head_len + (min(after, total - 1) if total else after)
        elif total:
            self.cut = head_len + total // 2

    async def write(self, data, last):
        if self.rule and not self.fired:
            k = (self.cut - self.sent if self.cut is not None and self.sent + len(data) > self.cut
                 else len(data) // 2 if last else None)  # a cut past the end falls in the last piece
            if k is not None:
                await self._send(data[:k])
                await self._fire()
                data = data[k:]
        await self._send(data)

    async def _send(self, data):
        step = max(1, min(PIECE, self.bw // 20)) if self.bw else max(1, len(data))
        for i in range(0, len(data), step):
            part = data[i:i + step]
            self.w.write(part)
            self.sent += len(part)
            self.conn.proxy.stats["bytes_down"] += len(part)
            await self.w.drain()
            if self.bw and (ahead := self.sent / self.bw - (time.monotonic() - self.t0)) > 0:
                await asyncio.sleep(ahead)

    async def _fire(self):
        self.fired, kind = True, self.rule.fault
        self.conn.proxy.stats["faults"][kind] += 1
        self.conn.note = kind
        await self.w.drain()
        if kind == "stall":
            return await asyncio.sleep(self.rule.spec["stall"])
        if kind == "reset_mid_body":
            await asyncio.sleep(0.05)  # let what was sent reach the client before the RST
            self.w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                       struct.pack("ii", 1, 0))
            self.w.transport.abort()
        else:
            self.w.close()
        raise Cut()


class Conn:
    """One client connection and the upstream connection serving it."""

    def __init__(self, proxy, reader, writer):
        self.proxy, self.r, self.w, self.up = proxy, reader, writer, None
        self.closing, self.counted, self.note, self.status = False, False, "", 0

    async def run(self):
        try:
            while not self.closing and (head := await read_head(self.r)):
                await self.one(*head)
        except (Cut, asyncio.CancelledError):
            pass
        except DROPPED as e:
            self.proxy.log(f"connection dropped: {type(e).__name__}: {e}")
        finally:
            if self.up:
                self.up[1].transport.abort()
            self.w.close()

    async def one(self, raw, start, hdrs):
        method, target, stats = start[0].upper(), start[1] if len(start) > 1 else "/", self.proxy.stats
        if target.startswith("/__fxproxy/"):
            return await self.control(method, target, hdrs)
        opts = hdrs.get("connection", "").lower()
        self.closing = "close" in opts or (start[-1] == "HTTP/1.0" and "keep-alive" not in opts)
        stats["connections"] += not self.counted
        self.counted, self.note, self.status = True, "", 0
        stats["requests"][method] = stats["requests"].get(method, 0) + 1
        stats["requests_total"] += 1
        plan = self.proxy.plan(method, target)
        try:
            for kind in ("latency", "bandwidth"):
                stats["faults"][kind] += bool(getattr(plan, kind))
            await asyncio.sleep(plan.latency / 1000)
            if plan.fault == "status":
                stats["faults"]["status"] += 1
                self.note = f"status:{plan.rule.spec['status']}"
                if "100-continue" in hdrs.get("expect", "").lower() and (
                        "transfer-encoding" in hdrs or int(hdrs.get("content-length") or 0)):
                    self.closing = True  # the client waits for a 100: answer now and hang up
                else:
                    async for _ in body_pieces(self.r, hdrs, False):
                        pass
                await self.error(method, target, plan, plan.rule.spec["status"], plan.rule)
            else:
                await self.forward(raw, method, target, hdrs, plan)
        finally:
            stats["responses"][str(self.status)] = stats["responses"].get(str(self.status), 0) + 1
            extra = f" +{plan.latency:g}ms" if plan.latency else ""
            self.proxy.log(f"{method} {target} {self.status or '-'} {self.note or '-'}{extra}")

    async def error(self, method, target, plan, status, rule=None, message=None):
        code = (rule and rule.spec.get("code")) or S3_CODES.get(status, "InternalError")
        self.proxy.request_ids += 1
        rid = f"FXPROXY{self.proxy.request_ids:09d}"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message or MESSAGES.get(code, code))}</Message><Resource>"
                f"{escape(target.split('?')[0])}</Resource><RequestId>{rid}</RequestId></Error>").encode()
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        head = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/xml",
                f"Content-Length: {len(body)}", f"x-amz-request-id: {rid}",
                f"Date: {formatdate(usegmt=True)}", "Server: fxproxy"]
        if rule and "retry_after" in rule.spec:
            head.append(f"Retry-After: {rule.spec['retry_after']}")
        if self.closing:
            head.append("Connection: close")
        self.status = status
        await Sink(self, plan).write(("\r\n".join(head) + "\r\n\r\n").encode()
                                     + (b"" if method == "HEAD" else body), True)

    async def upstream_failed(self, method, target, why):
        self.proxy.stats["upstream_errors"] += 1
        self.closing, self.note = True, f"upstream-error({type(why).__name__}: {why})"
        await self.error(method, target, Plan(), 502, message=f"fxproxy: upstream: {why}")

    async def forward(self, raw, method, target, hdrs, plan):
        stats = self.proxy.stats
        if self.up and (self.up[0].at_eof() or self.up[1].is_closing()):  # upstream hung up idle
            self.up[1].transport.abort()
            self.up = None
        if not self.up:
            try:
                self.up = await asyncio.open_connection(self.proxy.host, self.proxy.port, limit=1 << 20)
            except OSError as e:
                return await self.upstream_failed(method, target, e)
        ur, uw = self.up
        uw.write(raw)
        stats["bytes_up"] += len(raw)
        pump = asyncio.create_task(self.pump(hdrs, uw))  # the request body, while we await the answer
        try:
            while True:
                try:
                    head = await read_head(ur)
                except DROPPED as e:
                    head = e
                if not isinstance(head, tuple):
                    return await self.upstream_failed(method, target, head or "closed")
                self.status = int(head[1][1])
                if not (100 <= self.status < 200 and self.status != 101):
                    break
                self.w.write(head[0])  # interim (100 Continue): pass it on, read on
                stats["bytes_down"] += len(head[0])
            rraw, (version, *_), rh = head
            no_body = method == "HEAD" or self.status in (101, 204, 304)
            chunked = "chunked" in rh.get("transfer-encoding", "").lower()
            total = 0 if no_body else None if chunked or "content-length" not in rh else int(rh["content-length"])
            if "close" in rh.get("connection", "").lower() or version == "HTTP/1.0" or self.status == 101 \
                    or (total is None and not chunked):
                self.closing = True
            if plan.fault in REWRITES and not no_body:
                return await self.rewrite(plan, rraw, rh, ur)
            sink, prev = Sink(self, plan), rraw
            sink.start(len(rraw), total)
            if not no_body:
                async for piece in body_pieces(ur, rh, True):  # one piece behind, to know the last
                    await sink.write(prev, False)
                    prev = piece
            await sink.write(prev, True)
        except BaseException:
            pump.cancel()
            self.closing = True
            raise
        finally:
            if not pump.done():
                await asyncio.wait({pump}, timeout=1.0)
            if not pump.done():  # the upstream answered without reading the whole body
                pump.cancel()
                self.closing = True

    async def rewrite(self, plan, rraw, rh, ur):
        """The shorten, malform and length_delta faults of one forwarded response."""
        kind, spec = plan.fault, plan.rule.spec
        body = await payload(ur, rh)
        at = max(0, min(spec.get("after", len(body) // 2), len(body)))
        if kind == "shorten":
            body = body[:at]
        elif kind == "malform":
            body = body[:at] + MALFORMED + body[at:]
        length = max(0, len(body) + spec.get("length_delta", 0))
        if kind == "length_delta":
            self.closing = True  # the framing is wrong: nothing more can follow on it
        drop = ("content-length", "transfer-encoding", "connection")
        lines = [line for line in rraw.decode("latin-1").split("\r\n")
                 if line and line.partition(":")[0].strip().lower() not in drop]
        lines.append(f"Content-Length: {length}")
        if self.closing:
            lines.append("Connection: close")
        self.proxy.stats["faults"][kind] += 1
        self.note = kind
        await Sink(self, plan).write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, True)

    async def pump(self, hdrs, uw):
        try:
            async for piece in body_pieces(self.r, hdrs, False):
                uw.write(piece)
                self.proxy.stats["bytes_up"] += len(piece)
                await uw.drain()
        except DROPPED:
            self.closing = True
            uw.transport.abort()

    async def control(self, method, target, hdrs):
        body = b"".join([piece async for piece in body_pieces(self.r, hdrs, False)])
        path, code, proxy = target.split("?")[0].rstrip("/"), 200, self.proxy
        try:
            if path == "/__fxproxy/rules" and method in ("GET", "POST", "PUT", "DELETE"):
                if method != "GET":
                    rules = json.loads(body or b"[]") if method != "DELETE" else []
                    if not isinstance(rules, list):
                        raise ValueError("expected a JSON list of rules")
                    proxy.rules = [Rule(r, i, proxy.seed) for i, r in enumerate(rules)]  # all or none
                out = {"rules": [dict(r.spec, matched=r.matched, fired=r.fired) for r in proxy.rules]}
            elif path == "/__fxproxy/stats" and method in ("GET", "DELETE"):
                if method == "DELETE":
                    proxy.stats = proxy.zero_stats()
                out = proxy.stats
            else:
                code, out = 404, {"error": f"no {method} {path}"}
        except (ValueError, TypeError, re.error) as e:
            code, out = 400, {"error": str(e)}
        data = json.dumps(out, indent=1).encode() + b"\n"
        self.w.write(f"HTTP/1.1 {code} {HTTPStatus(code).phrase}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        await self.w.drain()


class Proxy:
    def __init__(self, args):
        up = urlsplit(args.upstream)
        if up.scheme != "http" or not up.hostname:
            raise ValueError("--upstream must be http://HOST:PORT")
        self.host, self.port, self.seed, self.verbose = up.hostname, up.port or 80, args.seed, args.verbose
        self.rules = [Rule(r, i, self.seed) for i, r in enumerate(args.rule)]
        self.tasks, self.request_ids, self.stats = set(), 0, self.zero_stats()

    @staticmethod
    def zero_stats():
        return {"requests": {}, "requests_total": 0, "responses": {},
                "faults": dict.fromkeys(FAULTS + ("latency", "bandwidth"), 0),
                "bytes_up": 0, "bytes_down": 0, "connections": 0, "upstream_errors": 0}

    def plan(self, method, target):
        path, _, query = target.partition("?")
        plan = Plan()
        for rule in self.rules:
            if rule.select(method, path, query):
                plan.latency += rule.spec.get("latency", 0)
                if rule.spec.get("bandwidth"):
                    plan.bandwidth = min(plan.bandwidth or rule.spec["bandwidth"], rule.spec["bandwidth"])
                if rule.fault and not plan.rule:
                    plan.rule, plan.fault = rule, rule.fault
        return plan

    def log(self, line):
        if self.verbose:
            print(f"fxproxy: {line}", file=sys.stderr, flush=True)

    async def accept(self, reader, writer):
        self.tasks.add(task := asyncio.current_task())
        try:
            await Conn(self, reader, writer).run()
        finally:
            self.tasks.discard(task)


async def serve(proxy, args):
    host, _, port = args.listen.rpartition(":")
    server = await asyncio.start_server(proxy.accept, host, int(port), limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {host}:{port}", flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    for task in list(proxy.tasks):
        task.cancel()
    await asyncio.gather(*proxy.tasks, return_exceptions=True)
    await server.wait_closed()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT of the S3 server")
    ap.add_argument("--rule", action="append", default=[], help="a rule (see below); repeatable")
    ap.add_argument("--seed", type=int, default=0, help="seed for prob= selectors")
    ap.add_argument("--port-file", help="write the listening port to this file")
    ap.add_argument("--verbose", action="store_true", help="one line per request on stderr")
    args = ap.parse_args()
    try:
        proxy = Proxy(args)
    except (ValueError, TypeError, re.error) as e:
        ap.error(str(e))
    asyncio.run(serve(proxy, args))


if __name__ == "__main__":
    main()
