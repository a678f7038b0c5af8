"""Project configuration: deploy checks, schema, periodic tasks, encryption keys."""

import json
import os
import secrets
import subprocess
import sys

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from openapi_spec_validator import validate

from channels_app.models import Channel
from core.crypto import DecryptionError, decrypt_text, encrypt_text
from tests.factories import ChannelFactory


def test_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_VAR_DIR"} | {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "bulletin.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


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
