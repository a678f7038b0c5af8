"""Subscribers read their pages and Bulletin's emails to them in their language (Subscriber.locale,
else the browser's): English and German are shipped, compiled by the install."""

from __future__ import annotations

import gettext
import re
import shutil

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.test import Client

from analytics.services.sunset import reengage_message_send
from core.i18n import language_for, translations_compile
from core.roles import Role
from subscribers.links import confirm_url, unsubscribe_url
from subscribers.models import Subscriber
from subscribers.services import subscriber_message_send
from subscribers.services.messages import MessageKind
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

PO = settings.BASE_DIR / "locale" / "de" / "LC_MESSAGES" / "django.po"


def path(url: str) -> str:
    return url.removeprefix(settings.SITE_URL)


def test_a_german_visitor_subscribes_and_gets_the_german_confirmation_email_and_page(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    topic = TopicFactory(slug="news", name="Nachrichten")
    form = client.get("/subscribe", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert '<html lang="de">' in form.content.decode() and "in Ihrem Postfach" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/subscribe", {"email": "lena@example.com", "topics": [topic.pk]}, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9"
        )
    lena = Subscriber.objects.get()
    assert lena.locale == "de"
    assert lena.consent_records.get().wording.startswith("Ich möchte E-Mails von Bulletin")

    [message] = mailoutbox
    assert message.subject == "Bestätigen Sie Ihr Abonnement von Bulletin"
    assert "Bitte bestätigen Sie, dass Sie Bulletin an lena@example.com erhalten möchten:" in message.body
    assert "Der Link gilt 7 Tage." in message.body
    html = message.alternatives[0][0]
    assert '<html lang="de">' in html and "Abonnement bestätigen" in html

    # The link in it opens the confirmation page in German, whatever the browser says.
    page = Client().get(path(confirm_url(subscriber_id=lena.pk)), HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200 and '<html lang="de">' in text
    assert "Bestätigen Sie Ihr Abonnement" in text and "Ja, Abonnement bestätigen" in text
    assert "Confirm your subscription" not in text


def test_an_english_subscriber_gets_english_and_an_unshipped_language_falls_back_to_english(mailoutbox):
    for locale in ("en", "fr"):
        subscriber = SubscriberFactory(status="pending", locale=locale)
        subscriber_message_send(subscriber_id=subscriber.pk, kind=MessageKind.CONFIRM)
    assert [m.subject for m in mailoutbox] == ["Confirm your subscription to Bulletin"] * 2


def test_a_regional_locale_gets_the_closest_shipped_language(mailoutbox):
    assert (language_for("de-AT"), language_for("de_CH"), language_for("pt-BR"), language_for("")) == (
        "de",
        "de",
        "en",
        "en",
    )
    subscriber = SubscriberFactory(status="active", locale="de-AT")
    subscriber_message_send(subscriber_id=subscriber.pk, kind=MessageKind.PREFERENCES_LINK)
    assert mailoutbox[0].subject == "Ihr Link zu den Einstellungen bei Bulletin"


def test_the_language_chooser_in_the_preference_centre_saves_the_locale_and_the_page_follows(token_for):
    topic = TopicFactory(slug="news", name="News")
    ada = SubscriberFactory(locale="en", timezone="UTC")
    SubscriptionFactory(subscriber=ada, topic=topic)
    url = f"/preferences/{token_for(ada)}"
    browser = Client()
    page = browser.get(url)
    assert '<option value="de">Deutsch</option>' in page.content.decode()
    form = {
        "name": ada.name,
        "slack_member_id": "",
        "webhook_url": "",
        "locale": "de",
        "timezone": "UTC",
        "digest_hour": 8,
        "digest_weekday": 0,
        "paused_until": "",
        f"frequency_{topic.pk}_email": "instant",
        f"frequency_{topic.pk}_slack": "off",
        f"frequency_{topic.pk}_webhook": "off",
    }
    saved = browser.post(url, form, follow=True)
    ada.refresh_from_db()
    assert ada.locale == "de"
    assert ada.consent_records.get().wording == "locale changed"
    html = saved.content.decode()
    assert '<html lang="de">' in html and "Ihre Einstellungen sind gespeichert." in html
    assert "Einstellungen speichern" in html and "Sofort" in html and "Tägliche Zusammenfassung" in html


def test_the_unsubscribe_pages_are_in_the_subscribers_language():
    topic = TopicFactory(slug="news", name="Nachrichten")
    lena = SubscriberFactory(locale="de")
    SubscriptionFactory(subscriber=lena, topic=topic)
    browser = Client()
    url = path(unsubscribe_url(subscriber_id=lena.pk))
    page = browser.get(url)
    assert "Von allem abmelden?" in page.content.decode()
    done = browser.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"])})
    assert "Sie erhalten keine Nachrichten mehr von Bulletin." in done.content.decode()
    one_click = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert one_click.content.decode().startswith("Abgemeldet.")


def test_the_sunset_email_is_in_the_subscribers_language(mailoutbox):
    lena = SubscriberFactory(locale="de", name="Lena")
    reengage_message_send(subscriber_id=lena.pk)
    [message] = mailoutbox
    assert message.subject == "Möchten Sie Bulletin weiterhin erhalten?"
    assert message.body.startswith("Hallo Lena,")


def test_admin_and_the_api_stay_in_english_for_a_german_browser(client_for):
    response = client_for(Role.VIEWER).get(
        "/api/v1/publishing/subscribers", {"status": "vip"}, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert "Select a valid choice" in str(response.json()["extra"])


def test_every_german_message_is_translated_and_keeps_its_placeholders():
    with PO.open("rb") as po:
        catalog = read_po(po)
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert not message.fuzzy, f"fuzzy: {ids[0]!r}"
        placeholders = set(message.python_format and _placeholders(ids[-1]) or ())
        for string in strings:
            assert _placeholders(string) == placeholders or not message.python_format, ids[0]


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)s", text))


def test_the_catalogue_compiles_without_gnu_gettext(tmp_path):
    """What `make install`, the Dockerfile and the test session run: Babel only, no msgfmt."""
    locale = tmp_path / "locale"
    shutil.copytree(PO.parent.parent.parent, locale, ignore=shutil.ignore_patterns("*.mo"))
    [mo] = translations_compile(locale_dirs=[locale])
    german = gettext.GNUTranslations(mo.open("rb"))
    assert german.gettext("Confirm your subscription") == "Bestätigen Sie Ihr Abonnement"
    assert german.ngettext(
        "The links work for %(days)s day. If you did not ask for this, ignore this email.",
        "The links work for %(days)s days. If you did not ask for this, ignore this email.",
        2,
    ).startswith("Die Links gelten %(days)s Tage.")
    assert translations_compile(locale_dirs=[locale]) == []  # up to date: nothing rebuilt
