"""Pre-send spam score: the SPAMC protocol against the real spamd (Debian's spamassassin + spamd,
started by .ci/run and `make run`), its answers parsed, and "scoring unavailable" without it."""

import os
import socket
import socketserver
import threading

import pytest

from publishing.services.checks.base import Status
from publishing.services.checks.message import checked_message
from publishing.services.checks.spam import check_spam
from publishing.services.checks.spamc import SpamdUnavailable, parse_report, parse_rules, spamd_report
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db

SPAMMY_TITLE = "FREE MONEY!!! ACT NOW"
SPAMMY_BODY = (
    "Buy VIAGRA now!!! Cheap viagra and cialis, 100% FREE, guaranteed weight loss, lose weight fast, act now, "
    "limited time offer, click here to claim your cash prize, no credit check, earn money from home, "
    "MILLIONS of dollars, winner!!!"
)
CLEAN_BODY = (
    "Our members met on Tuesday to discuss the budget for the coming year. The minutes are on the "
    "archive page, and the next meeting is in March."
)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING SPAMC/1.5\r\n\r\n")
            return b"PONG" in sock.recv(64)
    except OSError:
        return False


@pytest.fixture
def spamd(settings):
    """The real spamd at SPAMD_HOST:SPAMD_PORT. SPAMD_REQUIRED (set by .ci/run after installing
    it) makes its absence a failure; otherwise the test is skipped with the reason."""
    if not _answers(settings.SPAMD_HOST, settings.SPAMD_PORT):
        where = f"{settings.SPAMD_HOST}:{settings.SPAMD_PORT}"
        if os.environ.get("SPAMD_REQUIRED"):
            pytest.fail(f"SPAMD_REQUIRED is set but spamd does not answer at {where} (scripts/spamd-start)")
        pytest.skip(f"spamd not running at {where}: apt-get install spamassassin spamd; scripts/spamd-start")
    return settings.SPAMD_HOST, settings.SPAMD_PORT


def _message(title: str, body: str, topic):
    return checked_message(publication=PublicationFactory(title=title, body=body, topics=[topic]))


def test_a_spam_laden_newsletter_fails_with_spamassassins_rule_names(spamd, topic):
    result = check_spam(_message(SPAMMY_TITLE, SPAMMY_BODY, topic))
    assert result.status == Status.FAIL and result.blocking
    rules = {rule["name"]: rule for rule in result.details["rules"]}
    assert {"DRUGS_ERECTILE", "SUBJ_ALL_CAPS"} <= set(rules)
    drug = rules["DRUGS_ERECTILE"]
    assert drug["score"] > 0 and drug["description"] == "Refers to an erectile drug"
    assert result.details["score"] >= 5.0 and "DRUGS_ERECTILE" in result.message


def test_a_clean_newsletter_passes_with_its_score(spamd, topic):
    result = check_spam(_message("Minutes of the March meeting", CLEAN_BODY, topic))
    assert result.status == Status.PASS, result.message
    assert result.details["score"] < 3.0 and result.message.startswith("Score ")


def test_thresholds_come_from_settings(spamd, topic, settings):
    settings.SPAM_SCORE_WARN, settings.SPAM_SCORE_FAIL = 0.5, 100.0
    result = check_spam(_message(SPAMMY_TITLE, SPAMMY_BODY, topic))
    assert result.status == Status.WARN and result.details["fail_at"] == 100.0


def test_without_spamd_the_check_says_scoring_is_unavailable(settings, topic):
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        settings.SPAMD_HOST, settings.SPAMD_PORT = free.getsockname()
    result = check_spam(_message("Hello", CLEAN_BODY, topic))
    assert result.status == Status.UNAVAILABLE and not result.blocking
    where = f"127.0.0.1:{settings.SPAMD_PORT}"
    assert result.message == f"Scoring unavailable: SpamAssassin (spamd) is not running at {where}."


class _Refusing(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(65536)
        self.request.sendall(b"SPAMD/1.0 76 Bad header line: (Content-length mismatch)\r\n\r\n")


def test_a_spamd_refusal_is_unavailable_with_its_reason(settings, topic):
    server = socketserver.TCPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.handle_request, daemon=True).start()
    settings.SPAMD_HOST, settings.SPAMD_PORT = server.server_address
    try:
        result = check_spam(_message("Hello", CLEAN_BODY, topic))
    finally:
        server.server_close()
    assert result.status == Status.UNAVAILABLE
    assert "spamd refused the message: 76 Bad header line" in result.details["error"]


def test_the_report_table_is_parsed_with_wrapped_descriptions():
    answer = (
        b"SPAMD/1.1 0 EX_OK\r\nContent-length: 300\r\nSpam: True ; 6.4 / 5.0\r\n\r\n"
        b"Content analysis details:   (6.4 points, 5.0 required)\n\n"
        b" pts rule name              description\n"
        b"---- ---------------------- --------------------------------------------------\n"
        b" 2.7 MISSING_DATE           Missing Date: header\n"
        b"-0.0 NO_RECEIVED            Informational: message has no Received headers\n"
        b" 1.0 URIBL_X                Contains an URL listed in the X blocklist\n"
        b"                            [URIs: example.com]\n"
    )
    report = parse_report(answer)
    assert (report.score, report.threshold, report.is_spam) == (6.4, 5.0, True)
    assert [(r.name, r.score) for r in report.rules] == [("MISSING_DATE", 2.7), ("NO_RECEIVED", -0.0), ("URIBL_X", 1.0)]
    assert report.rules[2].description == "Contains an URL listed in the X blocklist [URIs: example.com]"
    assert parse_rules("no table here") == []
    with pytest.raises(SpamdUnavailable, match="something else"):
        parse_report(b"HTTP/1.1 200 OK\r\n\r\n")


def test_the_client_speaks_report_to_the_real_spamd(spamd):
    message = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello there\r\n"
    report = spamd_report(message, host=spamd[0], port=spamd[1], timeout=10)
    assert report.threshold == 5.0 and {"MISSING_DATE", "MISSING_MID"} <= {r.name for r in report.rules}


def test_an_unchanged_message_is_scored_once(spamd, topic, settings):
    message = _message("Minutes of the March meeting", CLEAN_BODY, topic)
    first = check_spam(message)
    settings.SPAMD_TIMEOUT_SECONDS = 0.000001  # a second call to spamd could not answer in time
    second = check_spam(message)
    assert (first.details["cached"], second.details["cached"]) == (False, True)
    assert second.status == first.status and second.details["rules"] == first.details["rules"]
