"""Project configuration: schema, periodic tasks, encryption keys (deploy checks: test_deploy_checks.py)."""

import json

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from openapi_spec_validator import validate

from channels_app.models import Channel
from core.crypto import DecryptionError, decrypt_text, encrypt_text
from tests.factories import ChannelFactory


@pytest.mark.django_db
def test_api_schema_is_a_valid_openapi_3_document(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    document = yaml.safe_load(response.content)
    validate(document)
    assert "/api/v1/publishing/topics/" in document["paths"]


@pytest.mark.django_db
def test_api_docs_render_from_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "cdn." not in response.content.decode()


@pytest.mark.django_db
def test_periodic_tasks_sync_creates_missing_and_keeps_operator_edits():
    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(name="Worker heartbeat")
    slower, _ = IntervalSchedule.objects.get_or_create(every=300, period=IntervalSchedule.SECONDS)
    task.interval = slower
    task.enabled = False
    task.save()
    call_command("setup_periodic_tasks")
    task.refresh_from_db()
    assert (task.interval.every, task.enabled) == (300, False)
    assert PeriodicTask.objects.filter(name="Worker heartbeat").count() == 1
    assert json.loads(task.kwargs) == {}


def test_values_encrypted_with_an_old_key_still_decrypt_after_rotation(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    token = encrypt_text("s3cret")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt_text(token) == "s3cret"
    settings.FIELD_ENCRYPTION_KEYS = [new]
    with pytest.raises(DecryptionError):
        decrypt_text(token)


@pytest.mark.django_db
def test_rotate_encryption_key_re_encrypts_stored_credentials(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    channel = ChannelFactory(kind="slack", credentials={"token": "xoxb-1"})
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_encryption_key")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert Channel.objects.get(pk=channel.pk).credentials == {"token": "xoxb-1"}
