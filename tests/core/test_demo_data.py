import pytest
from django.core.management import call_command

from channels_app.adapters import ADAPTERS
from channels_app.models import Channel
from publishing.models import Publication
from subscribers.models import Subscriber, Subscription, Topic

pytestmark = pytest.mark.django_db


def _counts():
    return (
        Topic.objects.count(),
        Subscriber.objects.count(),
        Subscription.objects.count(),
        Publication.objects.count(),
        Channel.objects.count(),
    )


def test_demo_data_loads_a_realistic_dataset():
    call_command("load_demo_data")
    topics, subscribers, subscriptions, publications, channels = _counts()
    assert topics >= 3
    assert subscribers == 200
    assert subscriptions >= subscribers
    assert publications >= 5
    assert set(Channel.objects.values_list("kind", flat=True)) == set(ADAPTERS), "one demo channel of each kind"
    assert Publication.objects.filter(state=Publication.State.PUBLISHED).exists()


def test_demo_data_is_idempotent():
    call_command("load_demo_data")
    first = _counts()
    call_command("load_demo_data")
    assert _counts() == first


def test_demo_channels_point_at_local_destinations():
    call_command("load_demo_data")
    for channel in Channel.objects.exclude(kind="email"):
        url = channel.config.get("url") or channel.config.get("base_url") or channel.credentials.get("url")
        assert url.startswith(f"http://127.0.0.1:8000/dev/sinks/{channel.kind}/"), url
    assert Channel.objects.get(kind="email").config["esp"] == "outbox"


def test_ensure_admin_prints_a_login_that_works(client, capsys):
    call_command("ensure_admin")
    first = capsys.readouterr().out
    password = first.split("password:")[1].strip()
    call_command("ensure_admin")
    assert password in capsys.readouterr().out, "the same login is printed again"
    # Through the admin login form, the way a person (and django-axes) sees it.
    response = client.post("/admin/login/", {"username": "admin", "password": password, "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_demo_data_ships_a_welcome_automation_started_by_confirmation():
    from publishing.automation_models import Automation

    call_command("load_demo_data")
    call_command("load_demo_data")
    welcome = Automation.objects.get(name="Welcome")
    assert welcome.trigger == "confirmed" and welcome.is_active
    assert [s["kind"] for s in welcome.current_version.steps] == ["send", "wait", "wait_until", "send"]
    assert welcome.versions.count() == 1
