"""Admin pages for the local outbox: the mail the embedded default keeps instead of sending.

The outbox holds confirmation and preference links (each one opens someone's account), so it is
for the admin role only, not for every staff member.
"""

from __future__ import annotations

import email
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from core.mail import outbox_messages
from core.outbox_preview import outbox_html_untracked
from core.roles import Role, user_has_role


def _require_admin(request) -> None:
    if not user_has_role(request.user, Role.ADMIN):
        raise PermissionDenied("The outbox is for the admin role only.")


def outbox_view(request):
    _require_admin(request)
    rows = []
    for path in outbox_messages():
        with path.open("rb") as fh:
            headers = BytesHeaderParser(policy=policy.default).parse(fh)
        rows.append({"name": path.name, "to": headers["To"], "subject": headers["Subject"], "date": headers["Date"]})
    context = {
        **admin.site.each_context(request),
        "title": "Outbox",
        "rows": rows,
        "folder": settings.BULLETIN_OUTBOX_DIR,
    }
    return render(request, "admin/outbox.html", context)


def outbox_message(request, name: str):
    _require_admin(request)
    folder = Path(settings.BULLETIN_OUTBOX_DIR).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or path.suffix != ".eml" or not path.is_file():
        raise Http404("No such message")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    context = {
        **admin.site.each_context(request),
        "title": message["Subject"] or name,
        "headers": list(message.items()),
        # Viewing is not reading: no open pixel, links lead straight to their target.
        "html": outbox_html_untracked(html.get_content()) if html else "",
        "text": text.get_content() if text else "",
        "name": name,
    }
    return render(request, "admin/outbox_message.html", context)
