"""Domain health (issue 18 item 6): SPF, DKIM, DMARC and List-Unsubscribe readiness of each From
domain, checked with dnspython against the local DNS server (tests/emulators/dns_server.py),
with the exact record to add; daily beat task, admin, API, and the pre-send warning."""

from __future__ import annotations

import pytest

from channels_app.models import DomainHealth
from channels_app.services.channels import channel_create
from channels_app.services.domain_health import domain_health_check, domain_health_refresh_all
from core.exceptions import ApplicationError
from core.periodic import periodic_task_specs, periodic_tasks_sync
from core.roles import Role
from publishing.services.checks.base import Status
from publishing.services.checks.domains import check_sender_domains
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _https_site(settings):
    settings.SITE_URL = "https://news.example.org"
    settings.LIST_UNSUBSCRIBE_MAILTO = ""


def _channel(domain: str, *, selectors: str = "s1", esp: str = "outbox"):
    config = {"esp": esp, "from_email": f"News <news@{domain}>", "dkim_selectors": selectors}
    if esp == "amazon_ses":
        config["region"] = "eu-west-1"
    return ChannelFactory(config=config)


def _check(health: DomainHealth, name: str) -> dict:
    return next(c for c in health.checks if c["name"] == name)


def test_a_good_domain_passes_every_check(dns_server):
    dns_server.good_domain("good.test", selector="s1")

    health = domain_health_check(domain="good.test", channels=[_channel("good.test")])

    assert health.status == "ok", health.checks
    assert [c["name"] for c in health.checks] == ["spf", "dkim:s1", "dmarc", "list_unsubscribe"]
    assert all(c["status"] == "ok" and not c["record"] for c in health.checks)
    assert dns_server.queries[("s1._domainkey.good.test", "TXT")] == 1


def test_a_broken_dkim_record_is_flagged_with_the_exact_fix(dns_server):
    dns_server.broken_dkim_domain("broken.test", selector="s1")

    health = domain_health_check(domain="broken.test", channels=[_channel("broken.test")])

    assert health.status == "failing"
    dkim = _check(health, "dkim:s1")
    assert dkim["status"] == "failing"
    assert "cut short" in dkim["problem"]
    assert dkim["record"] == {
        "name": "s1._domainkey.broken.test.",
        "type": "TXT",
        "value": "v=DKIM1; k=rsa; p=<the public key your ESP shows for selector s1>",
    }
    assert _check(health, "spf")["status"] == _check(health, "dmarc")["status"] == "ok"


def test_on_ses_a_missing_dkim_key_is_fixed_with_the_easy_dkim_cname(dns_server):
    dns_server.good_domain("ses.test", selector="s1")

    health = domain_health_check(
        domain="ses.test", channels=[_channel("ses.test", selectors="s1, abc2", esp="amazon_ses")]
    )

    assert _check(health, "dkim:s1")["status"] == "ok"
    missing = _check(health, "dkim:abc2")
    assert (missing["status"], missing["problem"]) == ("failing", "No DKIM key at abc2._domainkey.ses.test.")
    assert missing["record"] == {
        "name": "abc2._domainkey.ses.test.",
        "type": "CNAME",
        "value": "abc2.dkim.amazonses.com.",
    }


def test_missing_spf_and_dmarc_get_the_records_to_add(dns_server):
    dns_server.add("bare.test", "MX", "10 mx.bare.test.")

    health = domain_health_check(domain="bare.test", channels=[_channel("bare.test", esp="amazon_ses")])

    assert _check(health, "spf")["record"] == {
        "name": "bare.test.",
        "type": "TXT",
        "value": "v=spf1 include:amazonses.com ~all",
    }
    assert _check(health, "dmarc")["record"] == {
        "name": "_dmarc.bare.test.",
        "type": "TXT",
        "value": "v=DMARC1; p=none; rua=mailto:dmarc-reports@bare.test",
    }


def test_two_spf_records_and_a_monitoring_only_dmarc_are_told_apart(dns_server):
    dns_server.add_txt("two.test", "v=spf1 include:amazonses.com ~all")
    dns_server.add_txt("two.test", "v=spf1 include:sendgrid.net ~all")
    dns_server.add_txt("_dmarc.two.test", "v=DMARC1; p=none")

    health = domain_health_check(domain="two.test", channels=[_channel("two.test", selectors="")])

    assert _check(health, "spf")["status"] == "failing" and "2 SPF records" in _check(health, "spf")["problem"]
    assert _check(health, "dmarc")["status"] == "warning"
    assert _check(health, "dkim")["status"] == "warning", "no selector configured: said, not guessed"


def test_list_unsubscribe_needs_https_and_a_mailto_domain_that_receives_mail(dns_server, settings):
    dns_server.good_domain("lu.test")
    settings.SITE_URL = "http://news.example.org"
    assert (
        _check(domain_health_check(domain="lu.test", channels=[_channel("lu.test")]), "list_unsubscribe")["status"]
        == "failing"
    )

    settings.SITE_URL, settings.LIST_UNSUBSCRIBE_MAILTO = "https://news.example.org", "unsubscribe@nomx.test"
    check = _check(domain_health_check(domain="lu.test", channels=[_channel("lu.test")]), "list_unsubscribe")
    assert check["status"] == "failing" and check["record"]["type"] == "MX"


def test_dns_being_away_keeps_the_last_result(dns_server):
    dns_server.good_domain("kept.test")
    channel = _channel("kept.test")
    domain_health_check(domain="kept.test", channels=[channel])
    dns_server.clear()
    dns_server.fail("kept.test")

    health = domain_health_check(domain="kept.test", channels=[channel])

    assert health.status == "ok"


def test_the_daily_beat_task_is_registered_and_checks_every_from_domain(dns_server):
    dns_server.good_domain("one.test")
    dns_server.broken_dkim_domain("two.test")
    _channel("one.test"), _channel("two.test")
    ChannelFactory(config={"esp": "outbox", "from_email": "x@off.test"}, is_active=False)

    spec = next(s for s in periodic_task_specs() if s["task"] == "channels_app.tasks.domain_health_refresh_task")
    assert spec["crontab"]["hour"] and spec["name"] in periodic_tasks_sync()
    from channels_app.tasks import domain_health_refresh_task

    assert domain_health_refresh_task.delay().get() == {"one.test": "ok", "two.test": "failing"}
    assert len(domain_health_refresh_all()) == 2


def test_a_failing_domain_is_a_pre_send_warning_naming_the_fix(dns_server):
    dns_server.broken_dkim_domain("warn.test")
    channel = _channel("warn.test")
    assert check_sender_domains().status == Status.PASS, "not checked yet: nothing to warn about"
    domain_health_check(domain="warn.test", channels=[channel])

    result = check_sender_domains()

    assert result.status == Status.WARN
    assert "warn.test: dkim:s1" in result.message
    assert result.details["domains"]["warn.test"][0]["record"]["name"] == "s1._domainkey.warn.test."


def test_dkim_selectors_must_be_dns_labels():
    with pytest.raises(ApplicationError) as refused:
        channel_create(
            name="Mail",
            kind="email",
            config={"esp": "outbox", "from_email": "a@example.com", "dkim_selectors": "s1, bad selector!"},
        )
    assert "dkim_selectors" in str(refused.value.extra)


def test_the_api_lists_domain_health_for_editors_only(dns_server, client_for):
    dns_server.broken_dkim_domain("api.test")
    channel = _channel("api.test")
    domain_health_check(domain="api.test", channels=[channel])

    response = client_for(Role.EDITOR).get("/api/v1/publishing/domain-health")

    assert response.status_code == 200
    [domain] = response.json()["domains"]
    assert (domain["domain"], domain["status"], domain["channels"]) == ("api.test", "failing", [channel.pk])
    assert client_for(Role.VIEWER).get("/api/v1/publishing/domain-health").status_code == 403
    assert client_for(Role.ADMIN).post("/api/v1/publishing/domain-health").status_code == 405


def test_admin_shows_what_to_fix_and_rechecks_on_post(dns_server, client, make_user):
    dns_server.broken_dkim_domain("adm.test")
    health = domain_health_check(domain="adm.test", channels=[_channel("adm.test")])
    client.force_login(make_user(Role.EDITOR))

    page = client.get(f"/admin/channels_app/domainhealth/{health.pk}/change/").content.decode()
    assert "s1._domainkey.adm.test. TXT v=DKIM1; k=rsa; p=" in page

    dns_server.clear()
    dns_server.good_domain("adm.test")
    client.post("/admin/channels_app/domainhealth/", {"action": "recheck", "_selected_action": [health.pk]})
    health.refresh_from_db()
    assert health.status == "ok"


def test_admin_checks_every_from_domain_on_post_only(dns_server, client, make_user):
    dns_server.good_domain("new.test")
    _channel("new.test")
    url = "/admin/channels_app/domainhealth/check-all/"
    client.force_login(make_user(Role.VIEWER))
    assert "Check every From domain now" in client.get("/admin/channels_app/domainhealth/").content.decode()

    assert client.get(url).status_code == 405
    page = client.post(url, follow=True).content.decode()
    assert "needs the editor role" in page and not DomainHealth.objects.exists()

    client.force_login(make_user(Role.EDITOR))
    page = client.post(url, follow=True).content.decode()
    assert "Checked new.test: Ready." in page
    assert DomainHealth.objects.get(domain="new.test").status == "ok"
