"""The email the send would produce, rendered for the checks.

The same content the send pipeline gets (publishing.services.rendering.publication_content),
filled in as for a preview (the editor's sample values, the test-message unsubscribe page) with
tracked links and the open pixel when the send tracks, and the MIME message a mailbox
provider would receive (for spamd).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import make_msgid
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from analytics.links import click_urls
from channels_app.rendering import open_pixel_values
from publishing.models import Publication
from publishing.services.checks.html_scan import HtmlScan, html_scan
from publishing.services.rendering import content_render, preview_variables, publication_content

EMAIL_KIND = "email"


@dataclass
class CheckedMessage:
    subject: str
    html: str
    text: str
    content: dict[str, Any]  # the send's content, placeholders and all (links: the real targets)
    variables: dict[str, str]  # what filled them in

    @property
    def unsubscribe_url(self) -> str:
        return self.variables.get("unsubscribe_url", "")

    @cached_property
    def scan(self) -> HtmlScan:
        return html_scan(self.html)

    @property
    def visible_text(self) -> str:
        return self.scan.text

    def mime(self) -> bytes:
        """The message as it leaves: headers (Date, Message-ID, List-Unsubscribe...), text and HTML."""
        message = EmailMultiAlternatives(
            subject=self.subject,
            body=self.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=["reader@example.com"],
            headers={
                "Message-ID": make_msgid(domain=settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or None),
                "List-Unsubscribe": f"<{self.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(self.html, "text/html")
        return message.message().as_bytes()


def checked_message(*, publication: Publication, actor=None) -> CheckedMessage:
    content = publication_content(publication=publication)
    variables = preview_variables(content=content, actor=actor, channel_kind=EMAIL_KIND)
    if content.get("tracking"):  # sized and scored as sent: tracked links and the open pixel
        variables.update(open_pixel_values(delivery_id=0))
        tracked = click_urls(delivery_id=0, send_id=0, count=len(content.get("links", [])))
        variables.update({f"link_{i}": url for i, url in enumerate(tracked)})
    rendered = content_render(content=content, kind=EMAIL_KIND, variables=variables)
    return CheckedMessage(
        subject=rendered["subject"], html=rendered["html"], text=rendered["text"], content=content, variables=variables
    )
