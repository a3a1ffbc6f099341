"""The HTTP server: SWF and SQS on one port, a thread per connection, HTTP/1.1 keep-alive.

Both services speak AWS JSON 1.0, so the ``X-Amz-Target`` prefix picks the handler; moto's
response classes do the parsing and serialisation. We use the standard library's threading
HTTP server rather than werkzeug's development server because werkzeug closes every
connection after one response, and reconnecting costs more than the call itself.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import select
import socket
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import moto.core.responses
from moto.core.request import Request

from emulator.sqs_backend import EmuSQSResponse
from emulator.swf_backend import set_caller_check
from emulator.swf_responses import EmuSWFResponse

log = logging.getLogger(__name__)

# moto lists a response class's methods with inspect.getmembers on every call (about 0.7 ms);
# the list never changes for a class, so cache it.
moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(  # type: ignore[attr-defined]  # moto re-exports it from moto.core.utils
    moto.core.responses.method_names_from_class  # type: ignore[attr-defined]
)


class ServerRequest(Request):
    from_wsgi_server = True  # tells moto a real server adds the Date header


def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, str], str]:
    return status, {}, json.dumps({"__type": kind, "message": message})


def dispatch(request: ServerRequest) -> tuple[int, dict[str, Any], Any]:
    target = request.headers.get("X-Amz-Target", "")
    handler: Any
    if target.startswith("SimpleWorkflowService."):
        handler = EmuSWFResponse
    elif target.startswith("AmazonSQS."):
        handler = EmuSQSResponse
    else:
        return _error(400, "UnknownOperationException", f"unsupported target {target!r}")
    status, headers, body = handler.dispatch(request, request.url, dict(request.headers))
    return int(status), headers, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections
    timeout = 300  # drop idle connections eventually (a long poll is at most 60 s)
    # One buffered write per response and no Nagle: otherwise headers and body go out as two
    # segments and the client's delayed ACK adds ~40 ms to every call.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def environ(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        host, _, port = (self.headers.get("Host") or "127.0.0.1").partition(":")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query,
            "SERVER_NAME": host,
            "SERVER_PORT": port or "80",
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        return environ

    def handle_any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = ServerRequest(self.environ(body))
        set_caller_check(self.client_connected)
        try:
            status, headers, payload = dispatch(request)
        except Exception:  # the loop boundary: a bug is a 500 for one call, not a dead server
            log.exception("internal error on %s", request.headers.get("X-Amz-Target"))
            status, headers, payload = _error(500, "InternalFailure", "emulator internal error")
        finally:
            set_caller_check(None)
        cast(Server, self.server).before_answer()
        data = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("status", "content-length", "connection", "date", "server"):
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def client_connected(self) -> bool:
        """False once the client closed its end (readable with no data: EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return not readable or self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    do_POST = do_GET = do_PUT = do_DELETE = handle_any

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # long polls in flight must not delay shutdown
    # Called after a request is handled and before its answer is sent: with a state file,
    # waits until what the answer may show is saved (persistence.Snapshotter.wait_durable).
    before_answer: Callable[[], None] = staticmethod(lambda: None)


def build_server(host: str, port: int) -> Server:
    return Server((host, port), Handler)
