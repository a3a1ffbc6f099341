"""The HTTP server: one threaded werkzeug server answering SWF and SQS on one port.

Both services speak AWS JSON 1.0, so the ``X-Amz-Target`` prefix picks the handler; moto's
response classes do the parsing and serialisation. Each request runs on its own thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.request import Request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from emulator.sqs_backend import EmuSQSResponse
from emulator.swf_responses import EmuSWFResponse

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class ServerRequest(Request):
    from_wsgi_server = True  # tells moto a real server adds the Date header


class QuietHandler(WSGIRequestHandler):
    """Keep-alive connections (boto3 reuses them) and request lines only with --verbose."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if log.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)


def _error(status: int, kind: str, message: str) -> Response:
    body = json.dumps({"__type": kind, "message": message})
    return Response(body, status=status, content_type="application/x-amz-json-1.0")


def dispatch(request: ServerRequest) -> Response:
    target = request.headers.get("X-Amz-Target", "")
    handler: Any
    if target.startswith("SimpleWorkflowService."):
        handler = EmuSWFResponse
    elif target.startswith("AmazonSQS."):
        handler = EmuSQSResponse
    else:
        return _error(400, "UnknownOperationException", f"unsupported target {target!r}")
    status, headers, body = handler.dispatch(request, request.url, dict(request.headers))
    headers = {
        k: str(v) for k, v in headers.items() if k.lower() not in ("status", "content-length")
    }
    return Response(body, status=int(status), headers=headers)


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    request = ServerRequest(environ)
    try:
        response = dispatch(request)
    except Exception:  # the loop boundary: a bug must be a 500 for one call, not a dead server
        log.exception("internal error on %s", request.headers.get("X-Amz-Target"))
        response = _error(500, "InternalFailure", "emulator internal error")
    result: Iterable[bytes] = response(environ, start_response)
    return result


def build_server(host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, application, threaded=True, request_handler=QuietHandler)
