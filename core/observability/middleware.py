"""Every request gets an id (the caller's X-Request-ID when it is plain, else a new one), which
its log lines and the tasks it enqueues carry and the response returns; and is timed by view."""

from __future__ import annotations

import time

from core.observability import context


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = context.request_id_from(request.headers.get("X-Request-ID"))
        token = context.request_id.set(request.request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            context.request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        _observe(request, response, time.perf_counter() - started)
        return response


def _observe(request, response, seconds: float) -> None:
    from core.observability.metrics import HTTP_SECONDS

    match = getattr(request, "resolver_match", None)
    view = match.view_name if match and match.view_name else "unmatched"  # a bounded set of labels
    HTTP_SECONDS.labels(view=view, method=request.method, status=str(response.status_code)).observe(seconds)
