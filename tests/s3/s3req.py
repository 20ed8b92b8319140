#!/usr/bin/env python3
# One S3 request signed with AWS Signature V4, for the test-server scripts in
# this folder (creating buckets, readiness probes, round trips). It owns
# nothing but the signing; it is not a client library and does no retries.
#
# Why not curl --aws-sigv4: Debian 12's libcurl 7.88 signs only requests
# without a query string acceptably, and listings and multipart need one.
#
#   s3req.py METHOD URL [-d FILE] [-o FILE] [-D FILE] [-H 'Name: value']...
#            [-s SECRET] [-t SECONDS]
#
# Credentials and region come from S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION
# (as written to DIR/env by s3rver.sh and rgw.sh); -s overrides the secret,
# to prove that a server rejects a bad signature. The response body goes to
# stdout (or -o FILE), the status line and headers to -D FILE. The URL is
# percent-encoded as on the wire (a key "a b" is "a%20b"). Exit: 0 on 2xx,
# 1 on another HTTP status (stderr says "http STATUS CODE", CODE being the
# S3 <Code> when there is one), 2 on bad usage, 69 when nothing answers.
import argparse
import datetime
import hashlib
import hmac
import http.client
import os
import re
import sys
import urllib.parse

EX_UNAVAILABLE = 69


def quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def sign(method, url, headers, body, access_key, secret_key, region):
    """Add Host, X-Amz-Date, X-Amz-Content-Sha256 and Authorization to headers."""
    parts = urllib.parse.urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers["Host"] = parts.netloc
    headers["X-Amz-Date"] = amz_date
    headers["X-Amz-Content-Sha256"] = hashlib.sha256(body).hexdigest()

    # The path arrives already percent-encoded in URL form; decode and encode
    # again so that the canonical form is the one S3 computes.
    path = quote(urllib.parse.unquote(parts.path or "/"), safe="-_.~/")
    # Not parse_qsl: it reads "+" as a space, and continuation tokens hold "+".
    pairs = []
    for item in filter(None, parts.query.split("&")):
        k, _, v = item.partition("=")
        pairs.append((quote(urllib.parse.unquote(k)), quote(urllib.parse.unquote(v))))
    query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    canon = {k.lower(): " ".join(v.strip().split()) for k, v in headers.items()}
    names = sorted(canon)
    creq = "\n".join([
        method, path, query,
        "".join(f"{n}:{canon[n]}\n" for n in names),
        ";".join(names),
        headers["X-Amz-Content-Sha256"],
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope,
        hashlib.sha256(creq.encode()).hexdigest(),
    ])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={sig}")
    # Sent as signed, so a URL given with raw spaces or "+" still matches.
    return path + ("?" + query if query else "")


def main():
    ap = argparse.ArgumentParser(description="one SigV4-signed S3 request")
    ap.add_argument("method")
    ap.add_argument("url")
    ap.add_argument("-d", "--data", metavar="FILE", help="request body")
    ap.add_argument("-o", "--output", metavar="FILE", help="response body")
    ap.add_argument("-D", "--dump-header", metavar="FILE",
                    help="status line and response headers")
    ap.add_argument("-H", "--header", action="append", default=[])
    ap.add_argument("-s", "--secret-key", help="override S3_SECRET_KEY")
    ap.add_argument("-t", "--timeout", type=float, default=30)
    a = ap.parse_args()

    access = os.environ.get("S3_ACCESS_KEY")
    secret = a.secret_key or os.environ.get("S3_SECRET_KEY")
    region = os.environ.get("S3_REGION", "us-east-1")
    if not access or not secret:
        print("error: no credentials (S3_ACCESS_KEY or S3_SECRET_KEY unset)\n"
              "hint: source the env file that s3rver.sh or rgw.sh wrote",
              file=sys.stderr)
        return 2
    body = b""
    if a.data:
        with open(a.data, "rb") as f:
            body = f.read()
    headers = {}
    for h in a.header:
        name, sep, value = h.partition(":")
        if not sep:
            print(f"error: bad header {h!r} (no colon)\nhint: -H 'Name: value'",
                  file=sys.stderr)
            return 2
        headers[name.strip()] = value.strip()

    parts = urllib.parse.urlsplit(a.url)
    target = sign(a.method, a.url, headers, body, access, secret, region)
    conn_cls = (http.client.HTTPSConnection if parts.scheme == "https"
                else http.client.HTTPConnection)
    try:
        conn = conn_cls(parts.netloc, timeout=a.timeout)
        # skip_host: the signed Host header is already in headers.
        conn.putrequest(a.method, target, skip_host=True,
                        skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
    except (OSError, http.client.HTTPException) as e:
        print(f"error: {a.method} {a.url} failed ({e})\n"
              "hint: is the server running? see its log under DIR/log",
              file=sys.stderr)
        return EX_UNAVAILABLE
    if a.dump_header:
        with open(a.dump_header, "w") as f:
            f.write(f"HTTP/1.1 {resp.status} {resp.reason}\n")
            for k, v in resp.getheaders():
                f.write(f"{k}: {v}\n")
    if a.output:
        with open(a.output, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    if 200 <= resp.status < 300:
        return 0
    m = re.search(rb"<Code>([^<]*)</Code>", data)
    code = m.group(1).decode() if m else resp.reason
    print(f"http {resp.status} {code}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
