"""The README's signature verification snippet, run against what Bulletin really sends: it
accepts a genuine delivery once and refuses a forged, a stale and a replayed one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels_app.event_models import EventType
from channels_app.services.event_delivery import event_deliveries_send
from channels_app.services.events import event_emit, webhook_endpoint_create
from core.clock import clock
from tests.emulators.fixtures import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def _readme_verify():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Outbound events (webhook endpoints)", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own documentation)
    return namespace["verify"]


def test_the_readme_snippet_accepts_a_real_delivery_once_and_refuses_forged_stale_and_replayed(webhook_receiver):
    verify = _readme_verify()
    endpoint = webhook_endpoint_create(
        actor=None,
        name="crm",
        url=webhook_receiver.url("/e"),
        event_types=[EventType.SEND_COMPLETED],
        secret=WEBHOOK_SECRET,
    )
    event_emit(type=EventType.SEND_COMPLETED, data={"send": {"id": 7}})
    event_deliveries_send(endpoint_id=endpoint.pk)
    [request] = webhook_receiver.messages()
    headers, body = request["headers"], request["body"].encode()
    seen: set = set()

    assert verify(WEBHOOK_SECRET, headers, body, seen)
    assert not verify(WEBHOOK_SECRET, headers, body, seen)  # replayed id
    assert not verify(WEBHOOK_SECRET, headers, body.replace(b"7", b"8"), set())  # altered body
    forged = {**headers, "webhook-signature": "v1," + "A" * 44}
    assert not verify(WEBHOOK_SECRET, forged, body, set())
    assert not verify("whsec_" + "QUJD" * 8, headers, body, set())  # another secret
    stale = {**headers, "webhook-timestamp": str(int(clock.time()) - 3600)}
    assert not verify(WEBHOOK_SECRET, stale, body, set())
