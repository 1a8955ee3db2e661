"""The fake transport of the model-based tests: a urllib3 connection pool whose requests the model tenant answers.

Only the last step is faked (``_make_request``, where urllib3 would write to a socket), so everything above it runs
as in production: requests' session and adapter, urllib3's Retry (the client's ``DeadlineRetry``) with its backoff
on the simulated clock, the client's own retries, token renewal and error parsing.
"""

from __future__ import annotations

import io
import json
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.response import HTTPResponse

# Every request takes this long on the simulated clock: no loop can spin without time passing.
REQUEST_SECONDS = 0.05
HTML_STATUSES = {404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'}


class ModelPool(HTTPSConnectionPool):
    """Answers from ``world`` (set on a subclass made per world) instead of a socket."""

    world: Any = None

    def _make_request(self, conn, method, url, body=None, headers=None, retries=None, timeout=None,  # type: ignore[override]
                      chunked=False, response_conn=None, preload_content=True, decode_content=True,
                      enforce_content_length=True):
        world = self.world
        tenant = world.tenant
        world.clock.now += REQUEST_SECONDS
        world.clock.check()
        path = url.split('?', 1)[0]
        headers = dict(headers or {})
        token = (headers.get('Authorization') or '').replace('Bearer ', '', 1) or None
        fault = world.fault_for(method, path)
        if fault == 'lost_before':
            raise NewConnectionError(conn, 'Failed to establish a new connection: [Errno 111] Connection refused')
        if fault == 'busy':
            return self._respond(503, None, method, url, headers, response_conn, preload_content, decode_content,
                                 extra={'Retry-After': '1'})
        if fault == 'error500':
            return self._respond(500, dict(code=500, message='<internal-error-message>'), method, url, headers, response_conn,
                                 preload_content, decode_content)
        if fault == 'unauthorized':
            return self._respond(401, dict(code=401, message='unauthorized'), method, url, headers, response_conn,
                                 preload_content, decode_content)
        if fault == 'not_found':
            return self._respond(404, None, method, url, headers, response_conn, preload_content, decode_content)
        sent = None
        if body and headers.get('Content-Type', '').startswith('application/json'):
            sent = json.loads(body)
        status, answer = tenant.answer(self.host, method, path, sent, token)
        if fault == 'lost_after':
            raise ProtocolError('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))
        if fault == 'gateway_after':
            return self._respond(504, None, method, url, headers, response_conn, preload_content, decode_content)
        return self._respond(status, answer, method, url, headers, response_conn, preload_content, decode_content)

    def _respond(self, status, document, method, url, headers, response_conn, preload_content, decode_content, extra=None):
        if document is None and status in HTML_STATUSES:
            data = ('<html><head><title>%d %s</title></head><body>%s</body></html>'
                    % (status, HTML_STATUSES[status], HTML_STATUSES[status])).encode()
            content_type = 'text/html'
        else:
            if status >= 400 and isinstance(document, dict):
                document = error_body(self.world.schedule.error_body, status, document)
            data = json.dumps(document).encode() if document is not None else b''
            content_type = 'application/json;charset=UTF-8'
        answer_headers = {'Content-Type': content_type, 'Content-API-Version': 'protocol=1.0,resource=1.0',
                          'Content-Length': str(len(data))}
        if headers.get('X-ForgeRock-TransactionId'):
            answer_headers['X-ForgeRock-TransactionId'] = headers['X-ForgeRock-TransactionId']
        answer_headers.update(extra or {})
        return HTTPResponse(body=io.BytesIO(data), headers=answer_headers, status=status, reason=HTML_STATUSES.get(status, 'OK'),
                            preload_content=preload_content, decode_content=decode_content, request_method=method,
                            request_url=url, pool=self, connection=response_conn)


def error_body(style: str, status: int, document: dict[str, Any]) -> dict[str, Any]:
    """An error body in one of the shapes tenants send (API notes 3, docs/docsite/rst/guide_api_notes.rst)."""
    if style == 'common-rest':
        return dict(code=status, reason=document.get('reason') or HTML_STATUSES.get(status, 'Error'), message=document['message'])
    if style == 'promotions':
        return dict(code=status, message=document['message'], status=HTML_STATUSES.get(status, 'Error'))
    return document


def adapter_for(world: Any) -> type:
    """An HTTPAdapter class whose pools answer from ``world``: the client makes one per environment."""
    pool = type('WorldPool', (ModelPool,), {'world': world})

    class WorldAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {'http': pool, 'https': pool}

    return WorldAdapter
