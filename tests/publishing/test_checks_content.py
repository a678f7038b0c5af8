"""Pre-send checks of the rendered email's content: size against Gmail's clip, alt text, the
image-to-text ratio, unsubscribe link, postal address, subject, merge fields. Each on the
real rendered message (publishing's rendering), passing and failing."""

from dataclasses import replace

import pytest

from publishing.services.checks.base import Status
from publishing.services.checks.compliance import check_postal_address, check_unsubscribe
from publishing.services.checks.layout import GMAIL_CLIP_BYTES, check_image_alt, check_image_ratio, check_size
from publishing.services.checks.message import checked_message
from publishing.services.checks.wording import check_merge_fields, check_subject
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
WORDS = "The council met on Tuesday and agreed the budget for the library and the parks. " * 20


def _message(topic, **fields):
    fields.setdefault("body", WORDS)
    return checked_message(publication=PublicationFactory(topics=[topic], **fields))


def test_the_checked_message_is_the_email_the_send_renders(topic):
    message = _message(topic, title="Budget news", email_subject="Budget: what changes", body="Hello **all**")
    assert message.subject == "Budget: what changes"
    assert "<strong>all</strong>" in message.html and message.unsubscribe_url in message.html
    mime = message.mime().decode()
    assert "List-Unsubscribe: <" in mime and "Date: " in mime and "Message-ID: <" in mime


def test_size_passes_under_the_clip_and_fails_over_it(topic):
    small = check_size(_message(topic))
    assert small.status == Status.PASS and small.details["html_bytes"] < 20_000
    big = check_size(_message(topic, body=("word " * 20 + "\n\n") * 1100))
    assert big.status == Status.FAIL and big.details["html_bytes"] > GMAIL_CLIP_BYTES
    assert "Gmail clips messages over 102 KB" in big.message


def test_images_without_alt_text_warn(topic):
    missing = check_image_alt(_message(topic, body=WORDS + "\n\n![](https://img.example.org/a.png)"))
    assert missing.status == Status.WARN and missing.details["without_alt"] == ["https://img.example.org/a.png"]
    described = check_image_alt(_message(topic, body=WORDS + "\n\n![The new library](https://img.example.org/a.png)"))
    assert described.status == Status.PASS and described.details["images"] == 1


def test_the_open_pixel_is_not_a_content_image(topic):
    topic.tracking_enabled = True
    topic.save(update_fields=["tracking_enabled"])
    message = _message(topic)
    assert 'width="1" height="1"' in message.html
    assert check_image_alt(message).details["images"] == 0 and check_image_ratio(message).message == "No images."


def test_a_mostly_image_email_warns_on_its_ratio(topic):
    images = "\n\n".join(f"![Photo {i}](https://img.example.org/{i}.png)" for i in range(4))
    heavy = check_image_ratio(_message(topic, body="Look!\n\n" + images))
    assert heavy.status == Status.WARN and heavy.details["images"] == 4
    balanced = check_image_ratio(_message(topic, body=WORDS + "\n\n![Photo](https://img.example.org/1.png)"))
    assert balanced.status == Status.PASS


def test_the_unsubscribe_link_passes_when_the_template_prints_it(topic):
    result = check_unsubscribe(_message(topic))
    assert result.status == Status.PASS


def test_a_missing_or_broken_unsubscribe_link_fails(topic):
    message = _message(topic)
    missing = replace(message, html=message.html.replace(message.unsubscribe_url, "https://example.org/x"))
    missing = replace(missing, html=missing.html.replace("Unsubscribe", "Leave"))
    assert check_unsubscribe(missing).status == Status.FAIL
    assert "has no unsubscribe link" in check_unsubscribe(missing).message
    broken = replace(message, html=message.html.replace(f'href="{message.unsubscribe_url}"', 'href=""'))
    result = check_unsubscribe(broken)
    assert result.status == Status.FAIL and "An unsubscribe link leads nowhere" in result.message
    no_text = replace(message, text=message.text.replace(message.unsubscribe_url, ""))
    assert check_unsubscribe(no_text).message == "The plain-text part has no unsubscribe link."


def test_the_postal_address_must_be_configured_and_printed(topic, settings):
    assert check_postal_address(_message(topic)).status == Status.PASS
    message = _message(topic)
    settings.POSTAL_ADDRESS = ""
    assert check_postal_address(message).status == Status.FAIL
    settings.POSTAL_ADDRESS = "Bulletin, 9 Other Road, Shelbyville"
    result = check_postal_address(message)
    assert result.status == Status.FAIL and "missing from the HTML and text part" in result.message


@pytest.mark.parametrize(
    ("subject", "status", "words"),
    [
        ("Budget news for March", Status.PASS, "21 characters"),
        ("FREE BUDGET NEWS", Status.WARN, "capitals"),
        ("Budget news!!!", Status.WARN, "exclamation"),
        ("A subject " * 9, Status.WARN, "mobile clients cut it"),
        ("A subject " * 12, Status.WARN, "every client cuts it"),
    ],
)
def test_the_subject_is_checked_for_length_and_capitals(topic, subject, status, words):
    result = check_subject(_message(topic, title=subject))
    assert result.status == status and words in result.message


def test_an_empty_subject_fails(topic):
    message = _message(topic)
    assert check_subject(replace(message, subject=" ")).status == Status.FAIL


def test_unresolved_merge_fields_fail(topic):
    publication = PublicationFactory(topics=[topic], body="Hello {{ subscriber.shoe_size }}, " + WORDS)
    result = check_merge_fields(checked_message(publication=publication), publication=publication, warnings=[])
    assert result.status == Status.FAIL and "unknown merge field" in result.message
    assert result.details["unresolved"] == ["{{ subscriber.shoe_size }}"]


def test_merge_fields_some_recipients_lack_warn_and_resolved_ones_pass(topic, email_channel):
    from publishing.selectors import publication_merge_warnings

    publication = PublicationFactory(topics=[topic], body="Hello {{ subscriber.attributes.company }}. " + WORDS)
    for attributes in ({"company": "Acme"}, {}):
        SubscriptionFactory(subscriber=SubscriberFactory(attributes=attributes), topic=topic, frequency="instant")
    warnings = publication_merge_warnings(publication=publication)
    result = check_merge_fields(checked_message(publication=publication), publication=publication, warnings=warnings)
    assert result.status == Status.WARN and "subscriber.attributes.company is empty for 1 of 2" in result.message
    fine = PublicationFactory(topics=[topic], body='Hello {{ subscriber.first_name|default:"there" }}. ' + WORDS)
    result = check_merge_fields(checked_message(publication=fine), publication=fine, warnings=[])
    assert result.status == Status.PASS and result.message == "1 merge field, all resolved."
