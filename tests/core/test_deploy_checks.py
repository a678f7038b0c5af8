"""`check --deploy` refuses a production configuration that would fail at the first send
(issue 11, item 12): no encryption key, a SITE_URL that is not public https, SES without SNS
feedback topics. `make check-deploy` passes throwaway values for each and stays green."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError

GOOD = {
    "SITE_URL": "https://news.example.com",
    "FIELD_ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
    "EMAIL_BACKEND": "anymail.backends.amazon_ses.EmailBackend",
    "SNS_TOPIC_ARNS": ["arn:aws:sns:eu-west-1:123456789012:bulletin-ses-events"],
    # The test settings let emulators on loopback be reached; production refuses that (E101).
    "OUTBOUND_ALLOW_PRIVATE_TARGETS": False,
}


def _deploy_errors(settings, **overrides) -> str:
    """The ids of the errors `check --deploy` reports (empty when it passes)."""
    for name, value in {**GOOD, **overrides}.items():
        setattr(settings, name, value)
    try:
        call_command("check", deploy=True)
    except SystemCheckError as exc:
        return " ".join(sorted(set(re.findall(r"bulletin\.E\d+", str(exc)))))
    return ""


def test_a_complete_production_configuration_passes(settings):
    assert _deploy_errors(settings) == ""


@pytest.mark.parametrize("keys", [[], [""], ["  "]])
def test_a_missing_encryption_key_fails(settings, keys):
    assert "bulletin.E010" in _deploy_errors(settings, FIELD_ENCRYPTION_KEYS=keys)


@pytest.mark.parametrize("keys", [["not-a-fernet-key"], [Fernet.generate_key().decode(), "short"]])
def test_an_invalid_encryption_key_fails(settings, keys):
    assert _deploy_errors(settings, FIELD_ENCRYPTION_KEYS=keys) == "bulletin.E002"


@pytest.mark.parametrize(
    ("site_url", "errors"),
    [
        ("http://news.example.com", "bulletin.E011"),
        ("https://localhost", "bulletin.E012"),
        ("https://app.localhost:8443", "bulletin.E012"),
        ("https://127.0.0.1", "bulletin.E012"),
        ("https://127.1.2.3:8000", "bulletin.E012"),
        ("https://[::1]", "bulletin.E012"),
        ("https://0.0.0.0", "bulletin.E012"),
        ("http://127.0.0.1:8000", "bulletin.E011 bulletin.E012"),
    ],
)
def test_a_site_url_that_is_not_public_https_fails(settings, site_url, errors):
    assert _deploy_errors(settings, SITE_URL=site_url) == errors


@pytest.mark.parametrize(
    "ses",
    [
        {"EMAIL_BACKEND": "anymail.backends.amazon_ses.EmailBackend"},
        {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "SES_ENDPOINT_URL": "https://ses.example"},
        {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "ANYMAIL": {"AMAZON_SES_CONFIGURATION_SET_NAME": "bulletin"},
        },
    ],
)
def test_ses_without_sns_topics_fails(settings, ses):
    assert _deploy_errors(settings, SNS_TOPIC_ARNS=[], **ses) == "bulletin.E013"


def test_another_mail_backend_needs_no_sns_topics(settings):
    backend = "django.core.mail.backends.smtp.EmailBackend"
    assert _deploy_errors(settings, EMAIL_BACKEND=backend, SNS_TOPIC_ARNS=[], SES_ENDPOINT_URL="") == ""


def test_the_deploy_checks_do_not_run_without_deploy(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.FIELD_ENCRYPTION_KEYS = []
    call_command("check")  # a laptop is not a deployment


def _makefile_check_deploy_env() -> dict[str, str]:
    """The throwaway values `make check-deploy` passes, read from the Makefile itself."""
    makefile = (Path(settings.BASE_DIR) / "Makefile").read_text()
    recipe = makefile.split("\ncheck-deploy:", 1)[1].split("\n\n", 1)[0]
    values = dict(re.findall(r"\b([A-Z_]+)=([^\s$\\]+)", recipe))
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    return values


def _production_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("BULLETIN_VAR_DIR", "FIELD_ENCRYPTION_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=base | {"DJANGO_SETTINGS_MODULE": "config.settings.production"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_check_deploy_values_pass_with_production_settings():
    env = _makefile_check_deploy_env()
    assert {"FIELD_ENCRYPTION_KEY", "SITE_URL", "SNS_TOPIC_ARNS", "ALLOWED_HOSTS"} <= set(env)
    result = _production_check(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("missing", "error"),
    [("FIELD_ENCRYPTION_KEY", "bulletin.E010"), ("SITE_URL", "bulletin.E011"), ("SNS_TOPIC_ARNS", "bulletin.E013")],
)
def test_production_settings_fail_for_each_missing_secret(missing, error):
    env = {k: v for k, v in _makefile_check_deploy_env().items() if k != missing}
    result = _production_check(env)
    assert result.returncode != 0
    assert error in result.stderr + result.stdout
