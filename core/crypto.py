"""Encryption at rest for credentials (Fernet, via `cryptography`).

FIELD_ENCRYPTION_KEY holds one or more comma-separated Fernet keys: the first encrypts,
every one decrypts (MultiFernet), so a key can be rotated without downtime:
  1. prepend a new key (`FIELD_ENCRYPTION_KEY=new,old`) and restart;
  2. run `manage.py rotate_encryption_key` to re-encrypt every stored value with the new key;
  3. drop the old key.
Without a key, DEBUG and test settings derive one from SECRET_KEY; production refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    pass


def _fernet() -> MultiFernet:
    keys = list(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEY is not set. Generate one with: "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            )
        digest = hashlib.sha256(("bulletin-field-key:" + settings.SECRET_KEY).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY is not a valid Fernet key: {exc}") from exc


def encrypt_text(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored value cannot be decrypted with the configured keys") from exc


def rotate_text(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted. Never shown in forms, logs or the API."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection) -> dict[str, Any]:
        if not value:
            return {}
        return json.loads(decrypt_text(value))

    def to_python(self, value) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(decrypt_text(value))

    def get_prep_value(self, value) -> str:
        if isinstance(value, _RawCiphertext):
            return str(value)
        if not value:
            return ""
        return encrypt_text(json.dumps(value, sort_keys=True))


def encrypted_fields_rotate() -> int:
    """Re-encrypt every EncryptedJSONField value with the first configured key; returns rows changed."""
    from django.apps import apps
    from django.db import transaction
    from django.db.models.functions import Cast

    changed = 0
    for model in apps.get_models():
        for field in [f for f in model._meta.concrete_fields if isinstance(f, EncryptedJSONField)]:
            rows = model._default_manager.exclude(**{field.name: ""}).annotate(
                _raw=Cast(field.name, models.TextField())
            )
            with transaction.atomic():
                for pk, raw in rows.values_list("pk", "_raw").iterator():
                    if raw:
                        model._default_manager.filter(pk=pk).update(**{field.name: _RawCiphertext(rotate_text(raw))})
                        changed += 1
    return changed


class _RawCiphertext(str):
    """Already-encrypted text that get_prep_value must store as it is."""
