"""A subscriber's language: their pages and Bulletin's own emails to them are in it."""

from __future__ import annotations

from core.i18n import language_for
from subscribers.models import Subscriber


def subscriber_language(subscriber: Subscriber) -> str:
    return language_for(subscriber.locale)
