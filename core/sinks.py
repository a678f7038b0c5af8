"""Development sinks: local stand-ins for every channel kind's provider (Slack, Discord,
webhook receivers...), at /dev/sinks/<kind>/.

Enabled only by DEV_SINKS_ENABLED (local settings), so the demo channels of `make run`
deliver somewhere safe. Each request is kept as a JSON file under var/sinks/<kind>/ and
answered the way the real service answers a success (each adapter's `sink_answer`).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.adapters import ADAPTERS


def sink_folder(kind: str) -> Path:
    return Path(settings.VAR_DIR) / "sinks" / kind


@csrf_exempt
@require_POST
def sink(request, kind: str, method: str = ""):
    if not settings.DEV_SINKS_ENABLED or kind not in ADAPTERS:
        raise Http404
    folder = sink_folder(kind)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "received_at": time.time(),
        "path": request.path,
        "headers": {k: v for k, v in request.headers.items() if k.lower() != "authorization"},
        "body": request.body.decode("utf-8", "replace"),
    }
    (folder / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.json").write_text(json.dumps(record, indent=2))
    answer = ADAPTERS[kind].sink_answer(request.body)
    if answer.json is not None:
        response = JsonResponse(answer.json, status=answer.status, safe=False)
    else:
        response = HttpResponse(status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response
