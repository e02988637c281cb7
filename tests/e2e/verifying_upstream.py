"""A verifying upstream for tollgate's call-site test (tests/integration/callsites.rs): an HTTP
server between `tollgate run --upstream` and moto that recomputes every request's SigV4
signature with the known secret, notes any `x-tollgate-*` header that reached it, and forwards
the request to moto unchanged.

    python verifying_upstream.py PORT_FILE LOG_FILE MOTO_URL SECRET

Writes its port to PORT_FILE once listening, and one JSON line per request to LOG_FILE:
{"method", "path", "signed": true|false|null (null: not signed), "tollgate_headers": [...]}.
Standard library only.
"""

import hashlib
import hmac
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

PORT_FILE, LOG_FILE, MOTO_URL, SECRET = sys.argv[1:5]
MOTO = urllib.parse.urlsplit(MOTO_URL)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect"}
LOCK = threading.Lock()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def verify(method, raw_path, headers, body):
    """True if the SigV4 signature is the one the secret gives; None if the request is unsigned."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = dict(
        part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(",")
    )
    _, date, region, service, terminator = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    path, _, query = raw_path.partition("?")
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&") if pair)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(v.split()) for v in headers.get_all(name, []))}\n"
        for name in signed
    )
    payload = headers.get("x-amz-content-sha256") or sha256_hex(body)
    canonical = "\n".join(
        [method, path, canonical_query, canonical_headers, ";".join(signed), payload]
    )
    amz_date = headers.get("x-amz-date")
    scope = f"{date}/{region}/{service}/{terminator}"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(canonical.encode())]
    )
    key = ("AWS4" + SECRET).encode()
    for part in (date, region, service, terminator):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["Signature"])


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

    def relay(self):
        body = self.read_body()
        headers = {k.lower(): None for k in self.headers.keys()}
        own = sorted(name for name in headers if name.startswith("x-tollgate-"))
        signed = verify(self.command, self.path, self.headers, body)
        with LOCK, open(LOG_FILE, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path.split("?")[0],
                                  "signed": signed, "tollgate_headers": own}) + "\n")
        connection = http.client.HTTPConnection(MOTO.hostname, MOTO.port, timeout=60)
        forward = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        forward["Content-Length"] = str(len(body))
        connection.request(self.command, self.path, body=body, headers=forward)
        response = connection.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as out:
    out.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
