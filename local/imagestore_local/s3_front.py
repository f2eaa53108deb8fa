"""A pass-through front of SeaweedFS's S3 port that remembers which S3 operation wrote each key.

SeaweedFS's filer events show that an object was written, not how: a PUT, a browser's POST, a COPY and the
completion of a multipart upload look alike. S3 names them (ObjectCreated:Put, :Post, :Copy,
:CompleteMultipartUpload) and a notification configuration may select one. Clients of the local stack
talk to this front (127.0.0.1); each request is forwarded to SeaweedFS unchanged, its Host header included,
so SigV4 signatures and POST policies are checked by SeaweedFS exactly as before.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("imagestore_local.s3_front")

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"}
_FORM_KEY = re.compile(rb'name="key"\r\n(?:[^\r\n]*\r\n)*?\r\n(.*?)\r\n--', re.S)
_FORM_FILENAME = re.compile(rb'name="file"; filename="([^"]*)"')
REMEMBER_SECONDS = 300.0


def operation_of(method: str, path: str, headers: Any, body: bytes) -> tuple[str, str, str] | None:
    """(bucket, key, event name) when the request writes an object, else None (path-style addressing)."""
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    bucket, _, key = urllib.parse.unquote(parsed.path).lstrip("/").partition("/")
    if not bucket:
        return None
    if method == "PUT" and key and "partNumber" not in query and not set(query) & {"tagging", "acl", "retention"}:
        if headers.get("x-amz-copy-source"):
            return bucket, key, "ObjectCreated:Copy"
        return bucket, key, "ObjectCreated:Put"
    if method == "POST" and key and "uploadId" in query:
        return bucket, key, "ObjectCreated:CompleteMultipartUpload"
    if method == "POST" and not key and "multipart/form-data" in (headers.get("Content-Type") or ""):
        match = _FORM_KEY.search(body)
        if match is None:
            return None
        form_key = match.group(1).decode("utf-8", "replace")
        if "${filename}" in form_key:
            filename = _FORM_FILENAME.search(body)
            form_key = form_key.replace("${filename}", filename.group(1).decode("utf-8", "replace") if filename else "")
        return bucket, form_key, "ObjectCreated:Post"
    return None


class S3Front:
    """The front: a threaded HTTP server on 127.0.0.1 forwarding to SeaweedFS's S3 port."""

    def __init__(self, upstream_port: int, port: int) -> None:
        self.upstream_port = upstream_port
        self._operations: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("s3 front: " + format, *args)

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    raw = b""
                    while True:
                        line = self.rfile.readline()
                        raw += line
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while True:
                                trailer = self.rfile.readline()
                                raw += trailer
                                if trailer in (b"\r\n", b"\n", b""):
                                    return raw
                        raw += self.rfile.read(size + 2)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self) -> None:
                body = self._body()
                written = operation_of(self.command, self.path, self.headers, body)
                if written is not None:
                    front.remember(*written)
                upstream = http.client.HTTPConnection("127.0.0.1", front.upstream_port, timeout=300)
                try:
                    upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            upstream.putheader(name, value)
                    upstream.endheaders(body or None)
                    response = upstream.getresponse()
                    payload = response.read()
                finally:
                    upstream.close()
                if written is not None and response.status >= 300:
                    front.forget(written[0], written[1])
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() not in ("transfer-encoding", "content-length"):
                        self.send_header(name, value)
                if self.command == "HEAD":
                    length = response.getheader("Content-Length")
                    if length is not None:
                        self.send_header("Content-Length", length)
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name="s3-front", daemon=True)

    @property
    def endpoint(self) -> str:
        """The URL clients use for S3."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread.start()

    def remember(self, bucket: str, key: str, event_name: str) -> None:
        """Note that a request is writing bucket/key (before it is forwarded: the event may come first)."""
        now = time.monotonic()
        with self._lock:
            self._operations[(bucket, key)] = (event_name, now)
            if len(self._operations) > 10_000:
                for stale in [k for k, (_, at) in self._operations.items() if now - at > REMEMBER_SECONDS]:
                    del self._operations[stale]

    def forget(self, bucket: str, key: str) -> None:
        """The write failed."""
        with self._lock:
            self._operations.pop((bucket, key), None)

    def operation(self, bucket: str, key: str) -> str | None:
        """The event name of the latest write of bucket/key through this front, if recent."""
        with self._lock:
            known = self._operations.get((bucket, key))
        if known is None or time.monotonic() - known[1] > REMEMBER_SECONDS:
            return None
        return known[0]

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
