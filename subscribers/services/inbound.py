"""The mailto form of List-Unsubscribe: a mail to `unsubscribe+<token>@domain` unsubscribes.

Every list email carries `<mailto:unsubscribe+<token>@domain?subject=unsubscribe>` when
LIST_UNSUBSCRIBE_MAILTO is set (subscribers.links.unsubscribe_mailto); the ESP receiving that
domain posts the mail to its anymail inbound webhook (subscribers.inbound), which hands the
normalized message here. The token names the delivery and is signed (subscribers.tokens), so a
forged mail unsubscribes nobody; what stops is exactly what the message stood for, as with its
one-click link (channels_app.rendering.message_unsubscribe_scope). Applied in the request: the
unsubscribe is effective when the webhook answers, seconds after the mail was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

from django.conf import settings

from channels_app.models import Delivery
from channels_app.rendering import message_unsubscribe_scope
from subscribers.models import ConsentRecord
from subscribers.services.consent import ConsentContext
from subscribers.services.unsubscribe import Unsubscribed, subscriber_unsubscribe
from subscribers.tokens import InvalidToken, mail_token_read

logger = logging.getLogger(__name__)

# Where the address a mail was delivered to may be, besides To and Cc (Bcc'd and forwarded mail).
_RECIPIENT_HEADERS = ("To", "Cc", "Bcc", "Delivered-To", "X-Original-To", "X-Forwarded-To", "Envelope-To")


@dataclass(frozen=True)
class MailUnsubscribe:
    delivery_id: int
    subscriber_id: int | None
    result: Unsubscribed | None  # None: the delivery or its subscriber is gone (erased)


def mail_unsubscribe_tokens(*, recipients: Iterable[str]) -> list[str]:
    """The tokens of the addresses among `recipients` that are our unsubscribe address plus a
    token (`unsubscribe+<token>@domain`, any case); other addresses are ignored."""
    local, _, domain = settings.LIST_UNSUBSCRIBE_MAILTO.lower().partition("@")
    if not (local and domain):
        return []
    tokens = []
    for _name, address in getaddresses(list(recipients)):
        mailbox, _, host = address.strip().lower().rpartition("@")
        base, plus, token = mailbox.partition("+")
        if host == domain and base == local and plus and token and token not in tokens:
            tokens.append(token)
    return tokens


def mail_unsubscribe(*, recipients: Iterable[str], sender: str = "", esp: str = "") -> list[MailUnsubscribe]:
    """Unsubscribe whatever each valid token among the recipients stands for. A token that is
    not ours (forged, mangled) changes nothing and is logged; an ESP is never asked to retry."""
    done = []
    for token in mail_unsubscribe_tokens(recipients=recipients):
        try:
            delivery_id = mail_token_read(token)
        except InvalidToken:
            logger.warning("mailto unsubscribe via %s with a token that is not ours; ignored", esp or "an ESP")
            continue
        done.append(_delivery_unsubscribe(delivery_id, sender=sender, esp=esp))
    return done


def inbound_recipients(message) -> list[str]:
    """Every address an inbound mail (anymail's AnymailInboundMessage) was delivered to."""
    found = [message.envelope_recipient] if getattr(message, "envelope_recipient", None) else []
    for header in _RECIPIENT_HEADERS:
        found += [str(value) for value in message.get_all(header, [])]
    return found


def _delivery_unsubscribe(delivery_id: int, *, sender: str, esp: str) -> MailUnsubscribe:
    delivery = Delivery.objects.select_related("send", "channel", "subscriber").filter(pk=delivery_id).first()
    if delivery is None or delivery.subscriber is None:
        return MailUnsubscribe(delivery_id, None, None)
    scope = message_unsubscribe_scope(
        kind=delivery.channel.kind, content=delivery.send.content or {}, context=delivery.context
    )
    origin = f" from {sender}" if sender else ""
    context = ConsentContext(
        method=ConsentRecord.Method.MAILTO, source=f"List-Unsubscribe mailto{origin} via {esp or 'inbound mail'}"
    )
    result = subscriber_unsubscribe(subscriber=delivery.subscriber, scope=scope, context=context)
    return MailUnsubscribe(delivery_id, delivery.subscriber_id, result)
