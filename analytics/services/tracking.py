"""The open pixel and the click redirect: read the token, resolve the link, hand the hit over.

A hit costs no database write in the request: it goes to the Redis buffer (ingest.py). A click
resolves its target from the send's link table (`Send.content["links"]`), kept per process
for TRACKING_LINKS_CACHE_SECONDS; tokens made by rendering carry the send id, so a click
needs no query at all once its send's links are cached.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from django.conf import settings

from analytics.links import ClickTarget, InvalidTrackingToken, click_token_read, open_token_read
from analytics.services.ingest import Hit, tracking_hit_buffer
from channels_app.models import Delivery, Send

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

_LINKS_CACHE_SIZE = 2048
_links_cache: OrderedDict[int, tuple[float, tuple[str, ...]]] = OrderedDict()
_links_lock = threading.Lock()


def tracking_open_record(*, token: str, user_agent: str, head: bool) -> bool:
    """Record an open if the token is ours; the pixel is served either way. True when recorded."""
    try:
        delivery_id = open_token_read(token)
    except InvalidTrackingToken:
        return False
    tracking_hit_buffer(hit=Hit.new(kind="open", delivery_id=delivery_id, user_agent=user_agent, head=head))
    return True


def tracking_click_target(*, token: str) -> tuple[ClickTarget, int, str] | None:
    """(the token's target, its send, the URL it leads to), recording nothing; None when the
    token is not ours or names no link of that delivery's message."""
    try:
        target = click_token_read(token)
    except InvalidTrackingToken:
        return None
    send_id = target.send_id or _delivery_send_id(target.delivery_id)
    if send_id is None:
        return None
    links = send_links(send_id=send_id)
    if target.link_index >= len(links) or not _is_web_url(links[target.link_index]):
        return None
    return target, send_id, links[target.link_index]


def tracking_click_resolve(*, token: str, user_agent: str, head: bool) -> str | None:
    """The URL a click goes to, with the hit recorded; None (and nothing recorded) when the token
    is not ours or names no link of that delivery's message."""
    found = tracking_click_target(token=token)
    if found is None:
        return None
    target, send_id, url = found
    hit = Hit.new(
        kind="click",
        delivery_id=target.delivery_id,
        user_agent=user_agent,
        head=head,
        send_id=send_id,
        link_index=target.link_index,
    )
    tracking_hit_buffer(hit=hit)
    return url


def send_links(*, send_id: int) -> tuple[str, ...]:
    """A send's link table, cached per process (a send's links never change once it is out)."""
    now = time.monotonic()
    with _links_lock:
        cached = _links_cache.get(send_id)
        if cached and cached[0] > now:
            return cached[1]
    raw = Send.objects.filter(pk=send_id).values_list("content__links", flat=True).first()
    links = tuple(str(url) for url in raw) if isinstance(raw, list) else ()
    with _links_lock:
        _links_cache[send_id] = (now + settings.TRACKING_LINKS_CACHE_SECONDS, links)
        _links_cache.move_to_end(send_id)
        while len(_links_cache) > _LINKS_CACHE_SIZE:
            _links_cache.popitem(last=False)
    return links


def send_links_cache_clear() -> None:
    with _links_lock:
        _links_cache.clear()


def _delivery_send_id(delivery_id: int) -> int | None:
    """Older tokens carry only the delivery: its send comes from the database."""
    return Delivery.objects.filter(pk=delivery_id).values_list("send_id", flat=True).first()


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
