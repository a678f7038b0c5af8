"""Pre-send link check: a local HTTP server answering 200, 404, 500 and refusing HEAD; the
answers cached; SSRF rules of core.outbound applied; links to Bulletin itself not fetched."""

import pytest
from werkzeug import Response

from publishing.services.checks.base import Status
from publishing.services.checks.links import check_links, message_links
from publishing.services.checks.message import checked_message
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db


def _message(body: str, topic):
    return checked_message(publication=PublicationFactory(body=body, topics=[topic], canonical_url=""))


def _requests(httpserver, path: str) -> list[str]:
    return [request.method for request, _ in httpserver.log if request.path == path]


def test_links_answering_an_error_fail_and_working_ones_pass(httpserver, topic):
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    httpserver.expect_request("/broken").respond_with_data("oops", status=500)
    body = " ".join(f"[{p}]({httpserver.url_for(p)})" for p in ("/ok", "/gone", "/broken"))
    result = check_links(_message(body, topic))
    assert result.status == Status.FAIL and result.blocking
    statuses = {link["url"].rsplit("/", 1)[1]: link["status"] for link in result.details["links"]}
    assert statuses == {"ok": 200, "gone": 404, "broken": 500}
    assert result.message.startswith("2 of 3 links answer an error:") and "/gone (404)" in result.message
    # HEAD first; GET only for those HEAD did not answer well.
    assert _requests(httpserver, "/ok") == ["HEAD"] and _requests(httpserver, "/gone") == ["HEAD", "GET"]


def test_a_server_refusing_head_is_asked_with_get(httpserver, topic):
    httpserver.expect_request("/page", method="HEAD").respond_with_data("", status=405)
    httpserver.expect_request("/page", method="GET").respond_with_data("the page")
    result = check_links(_message(f"[page]({httpserver.url_for('/page')})", topic))
    assert result.status == Status.PASS and result.message == "All 1 links answer."
    assert _requests(httpserver, "/page") == ["HEAD", "GET"]


def test_answers_are_cached_so_a_second_check_fetches_nothing(httpserver, topic):
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    message = _message(f"[x]({httpserver.url_for('/gone')})", topic)
    first, second = check_links(message), check_links(message)
    assert first.status == second.status == Status.FAIL
    assert [link["cached"] for link in second.details["links"]] == [True]
    assert len(httpserver.log) == 2  # HEAD + GET, once


def test_redirects_are_not_followed_and_count_as_answering(httpserver, topic):
    httpserver.expect_request("/old").respond_with_response(Response("", status=301, headers={"Location": "/new"}))
    result = check_links(_message(f"[x]({httpserver.url_for('/old')})", topic))
    assert result.status == Status.PASS and result.details["links"][0]["status"] == 301
    assert _requests(httpserver, "/new") == []


def test_private_targets_are_refused_by_the_outbound_rules(httpserver, topic, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    httpserver.expect_request("/admin").respond_with_data("secret")
    result = check_links(_message(f"[x]({httpserver.url_for('/admin')})", topic))
    assert result.status == Status.WARN and not result.blocking
    assert result.details["links"][0]["error"].startswith("not checked:")
    assert httpserver.log == []


def test_an_unreachable_host_warns_instead_of_failing(topic, settings):
    settings.PRESEND_LINK_TIMEOUT_SECONDS = 1
    result = check_links(_message("[x](http://127.0.0.1:9/closed)", topic))
    assert result.status == Status.WARN and "could not be reached" in result.message


def test_links_to_bulletin_itself_are_not_fetched(topic, settings, httpserver):
    message = _message(f"[archive]({settings.SITE_URL}/archive/x/) and [out]({httpserver.url_for('/a')})", topic)
    assert message_links(message) == [httpserver.url_for("/a")]
    assert check_links(_message("Just text.", topic)).message == "No outside links to check."


def test_tracked_sends_are_checked_on_their_real_targets(httpserver, topic):
    httpserver.expect_request("/a").respond_with_data("ok")
    topic.tracking_enabled = True
    topic.save(update_fields=["tracking_enabled"])
    message = _message(f"[a]({httpserver.url_for('/a')}) ![logo]({httpserver.url_for('/logo.png')})", topic)
    assert httpserver.url_for("/a") not in message.html  # the email carries tracking links
    assert set(message_links(message)) == {httpserver.url_for("/a"), httpserver.url_for("/logo.png")}


def test_a_slow_link_times_out_quickly_and_warns(httpserver, topic, settings):
    import time

    def slow(request):
        time.sleep(1.5)
        return Response("late")

    settings.PRESEND_LINK_TIMEOUT_SECONDS = 0.3
    httpserver.expect_request("/slow").respond_with_handler(slow)
    started = time.perf_counter()
    result = check_links(_message(f"[x]({httpserver.url_for('/slow')})", topic))
    assert time.perf_counter() - started < 1.4
    assert result.status == Status.WARN and "could not be reached (ReadTimeout)" in result.message
