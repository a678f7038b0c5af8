"""Development sinks: local stand-ins for Slack, Discord and webhook receivers.

Enabled only by DEV_SINKS_ENABLED (local settings), so the demo channels of `make run`
deliver somewhere safe. Each request is kept as a JSON file under var/sinks/<kind>/ and
answered the way the real service answers a success.
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

KINDS = ("slack", "discord", "webhook")


def sink_folder(kind: str) -> Path:
    return Path(settings.VAR_DIR) / "sinks" / kind


@csrf_exempt
@require_POST
def sink(request, kind: str, method: str = ""):
    if not settings.DEV_SINKS_ENABLED or kind not in KINDS:
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
    if kind == "slack":
        channel = _json_field(request.body, "channel") or request.POST.get("channel") or "C0DEMO"
        return JsonResponse({"ok": True, "channel": channel, "ts": f"{time.time():.6f}"})
    if kind == "discord":
        return JsonResponse({"id": str(time.time_ns()), "type": 0})
    return HttpResponse(status=204)


def _json_field(body: bytes, name: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return str(data.get(name, "")) if isinstance(data, dict) else ""
