"""The local admin login of `make run`: created once, its password kept in a 0600 file."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str


def _login_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-login.txt"


@transaction.atomic
def admin_login_ensure(*, username: str = "admin") -> AdminLogin:
    """Return the admin login, creating the user or resetting a password nobody knows."""
    User = get_user_model()
    path = _login_file()
    known = path.read_text().strip() if path.exists() else ""
    user = User.objects.filter(username=username).first()
    if user and known and user.check_password(known):
        return AdminLogin(username, known)
    password = secrets.token_urlsafe(12)
    if user is None:
        User.objects.create_superuser(username=username, email=f"{username}@example.com", password=password)
    else:
        user.set_password(password)
        user.is_superuser = user.is_staff = user.is_active = True
        user.save(update_fields=["password", "is_superuser", "is_staff", "is_active"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password)
    return AdminLogin(username, password)
