"""A counting upstream for tests: forwards every request to TARGET (moto) unchanged and logs
one JSON line per request (its number, method, path, query, the headers that name what it is,
the body's length) to LOG, in the order the requests came, and for a listing page's answer a
line saying whether it was truncated (`answer_to`: the request's number).
The tests compare tollgate's per-operation counts with what this saw on the wire, so the
ground truth never comes from tollgate's own code.

usage: counting_upstream.py PORT_FILE TARGET_URL LOG
"""

import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, TARGET, LOG = sys.argv[1], urllib.parse.urlsplit(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
sent = [0]
log = open(LOG, "a", buffering=1)

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self):
        length = self.headers.get("content-length")
        if length is not None:
            body = self.rfile.read(int(length))
        elif self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = b""
        split = urllib.parse.urlsplit(self.path)
        with lock:
            # Logged when the request comes, so the log is in the order requests were sent.
            sent[0] += 1
            number = sent[0]
            log.write(json.dumps({
                "n": number,
                "method": self.command,
                "host": self.headers.get("host", ""),
                "path": split.path,
                "query": split.query,
                "target": self.headers.get("x-amz-target"),
                "range": self.headers.get("range"),
                "copy_source": self.headers.get("x-amz-copy-source"),
                # The request body's bytes as they came (aws-chunked framing included).
                "length": len(body),
            }) + "\n")
        conn = http.client.HTTPConnection(TARGET.hostname, TARGET.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        if b"<IsTruncated>true</IsTruncated>" in data[:4096] or b"<IsTruncated>false</IsTruncated>" in data[:4096]:
            # A listing page's answer: whether more pages follow, for the test's own account
            # of which listings were read to their end.
            with lock:
                log.write(json.dumps({
                    "answer_to": number,
                    "truncated": b"<IsTruncated>true</IsTruncated>" in data[:4096],
                }) + "\n")
        elif self.command in ("GET", "HEAD"):
            # A read's answer: which bytes of which version came back, for the test's own
            # account of HEADs a GET answered and bytes received twice.
            with lock:
                log.write(json.dumps({
                    "answer_to": number,
                    "status": answer.status,
                    "content_range": answer.getheader("content-range"),
                    "etag": answer.getheader("etag"),
                    "received": len(data),
                }) + "\n")
        self.send_response(answer.status, answer.reason)
        for k, v in answer.getheaders():
            # A HEAD's Content-Length is the object's, not the (empty) body's.
            if k.lower() not in HOP and (k.lower() != "content-length" or self.command == "HEAD"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
