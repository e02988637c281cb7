"""A strict SigV4-verifying upstream for endpoint mode's test (tests/integration/endpoint_mode.rs):
an HTTP server between `tollgate run --endpoint --upstream` and moto that checks every request as
AWS would, with botocore's own signer (never tollgate's code), and rejects what AWS would reject:

- a signature botocore does not reproduce from the known secret: 403 SignatureDoesNotMatch;
- an access key other than the known one: 403 InvalidAccessKeyId;
- a payload whose SHA-256 is not its `x-amz-content-sha256`: 400 XAmzContentSHA256Mismatch;
- an aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) whose chunk or trailer
  signatures do not chain from the request's: 403 SignatureDoesNotMatch;
- a Host that is not an AWS host: 400 (endpoint mode must address the real service).

Accepted requests go to moto with any aws-chunked framing removed.

    python sigv4_upstream.py PORT_FILE LOG_FILE MOTO_URL ACCESS_KEY SECRET

Writes its port to PORT_FILE once listening, and one JSON line per request to LOG_FILE:
{"method", "path", "host", "accepted", "reason", "payload", "session_token", "tollgate_headers",
"bytes"}.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PORT_FILE, LOG_FILE, MOTO_URL, ACCESS_KEY, SECRET = sys.argv[1:6]
MOTO = urllib.parse.urlsplit(MOTO_URL)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect"}
LOCK = threading.Lock()
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


class Rejected(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code = status, code


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def signing_key(date, region, service):
    key = ("AWS4" + SECRET).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify_head(method, raw_path, headers, body):
    """Returns (signature, scope parts) if botocore's signer reproduces the request's signature."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise Rejected(403, "MissingAuthenticationToken", "not SigV4-signed")
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    access_key, date, region, service, _ = fields["Credential"].split("/")
    if access_key != ACCESS_KEY:
        raise Rejected(403, "InvalidAccessKeyId", f"unknown access key {access_key}")
    signed = fields["SignedHeaders"].split(";")
    request = AWSRequest(
        method=method,
        url=f"https://{headers['host']}{raw_path}",
        headers={name: ",".join(headers.get_all(name, [])) for name in signed},
        data=body,
    )
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_class(
        Credentials(ACCESS_KEY, SECRET, headers.get("x-amz-security-token")), service, region
    )
    request.context["timestamp"] = headers["x-amz-date"]
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise Rejected(403, "SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you provided.")
    return fields["Signature"], (headers["x-amz-date"], f"{date}/{region}/{service}/aws4_request",
                                 signing_key(date, region, service))


def decode_chunked(body, seed, scope, signed):
    """The payload of an aws-chunked body; with `signed`, every chunk signature is checked."""
    amz_date, scope_text, key = scope
    previous, payload, rest = seed, bytearray(), body
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size_text, _, extension = line.decode().partition(";")
        size = int(size_text, 16)
        data, rest = rest[:size], rest[size:]
        if signed:
            claimed = extension.split("chunk-signature=", 1)[1]
            to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope_text, previous,
                                 EMPTY_SHA, sha256_hex(data)])
            expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, claimed):
                raise Rejected(403, "SignatureDoesNotMatch", "a chunk signature does not chain")
            previous = expected
        payload += data
        if size == 0:
            break
        if rest[:2] != b"\r\n":
            raise Rejected(400, "IncompleteBody", "chunk data not followed by CRLF")
        rest = rest[2:]
    trailers = [line for line in rest.split(b"\r\n") if line]
    plain = [t for t in trailers if not t.lower().startswith(b"x-amz-trailer-signature:")]
    claimed = [t for t in trailers if t.lower().startswith(b"x-amz-trailer-signature:")]
    if signed and claimed:
        canonical = b"".join(
            t.split(b":", 1)[0].strip().lower() + b":" + t.split(b":", 1)[1].strip() + b"\n"
            for t in sorted(plain, key=lambda t: t.split(b":", 1)[0].lower())
        )
        to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope_text, previous,
                             sha256_hex(canonical)])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, claimed[0].split(b":", 1)[1].strip().decode()):
            raise Rejected(403, "SignatureDoesNotMatch", "the trailer signature does not chain")
    return bytes(payload)


def is_aws_host(host):
    name = host.split(":")[0]
    return name.endswith(".amazonaws.com") or name.endswith(".amazonaws.com.cn") or name.endswith(".api.aws")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def reply(self, status, headers, data):
        self.send_response(status)
        length = str(len(data))
        for name, value in headers:
            if name.lower() == "content-length" and self.command == "HEAD":
                length = value  # a HEAD answers with the object's length and no body
            elif name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def relay(self):
        body = self.read_body()
        own = sorted({k.lower() for k in self.headers.keys() if k.lower().startswith("x-tollgate-")})
        payload = self.headers.get("x-amz-content-sha256")
        entry = {"method": self.command, "path": self.path.split("?")[0],
                 "host": self.headers.get("host"), "payload": payload,
                 "session_token": self.headers.get("x-amz-security-token"),
                 "tollgate_headers": own, "bytes": len(body)}
        forward = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            if not is_aws_host(self.headers.get("host", "")):
                raise Rejected(400, "InvalidHost", f"not an AWS host: {self.headers.get('host')}")
            seed, scope = verify_head(self.command, self.path, self.headers, body)
            if payload and payload.startswith("STREAMING-"):
                body = decode_chunked(body, seed, scope,
                                      signed=payload.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))
                for name in list(forward):
                    if name.lower() in ("content-encoding", "x-amz-decoded-content-length",
                                        "x-amz-trailer"):
                        del forward[name]
                forward["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
            elif payload and payload != "UNSIGNED-PAYLOAD" and payload != sha256_hex(body):
                raise Rejected(400, "XAmzContentSHA256Mismatch",
                               "The provided 'x-amz-content-sha256' header does not match what was computed.")
            entry.update(accepted=True, reason=None)
        except Rejected as rejected:
            entry.update(accepted=False, reason=f"{rejected.code}: {rejected}")
            with LOCK, open(LOG_FILE, "a") as log:
                log.write(json.dumps(entry) + "\n")
            message = (f"<?xml version=\"1.0\"?><Error><Code>{rejected.code}</Code>"
                       f"<Message>{rejected}</Message></Error>").encode()
            self.reply(rejected.status, [("Content-Type", "application/xml")], message)
            return
        with LOCK, open(LOG_FILE, "a") as log:
            log.write(json.dumps(entry) + "\n")
        connection = http.client.HTTPConnection(MOTO.hostname, MOTO.port, timeout=120)
        forward["Content-Length"] = str(len(body))
        connection.request(self.command, self.path, body=body, headers=forward)
        response = connection.getresponse()
        data = response.read()
        self.reply(response.status, response.getheaders(), data)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
