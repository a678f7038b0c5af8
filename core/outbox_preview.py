"""The outbox viewer shows a message as its reader would see it, without being its reader: the
open pixel is taken out and tracked links point straight at their destination, so opening or
clicking in admin records no open and no click (it would count an editor as a reader)."""

from __future__ import annotations

import re
from html import escape, unescape

from django.conf import settings

from analytics.links import CLICK_PATH, OPEN_PATH

_ATTR = r"""(["'])(?P<url>{base}{path}[^"']*)\1"""


def _pattern(path: str) -> str:
    return _ATTR.format(base=re.escape(settings.SITE_URL), path=re.escape(path.split("{token}")[0]))


def outbox_html_untracked(html: str) -> str:
    """`html` with the open pixel removed and every tracked link replaced by its target
    (or by "#" when the token leads nowhere)."""
    from analytics.services.tracking import tracking_click_target

    pixel = re.compile(r"<img\b[^>]*\bsrc=" + _pattern(OPEN_PATH) + r"[^>]*>", re.IGNORECASE)
    html = pixel.sub("", html)

    def untrack(match: re.Match) -> str:
        token = unescape(match.group("url")).split(CLICK_PATH.split("{token}")[0], 1)[1]
        found = tracking_click_target(token=token)
        return f'"{escape(found[2]) if found else "#"}"'

    return re.compile(_pattern(CLICK_PATH)).sub(untrack, html)
