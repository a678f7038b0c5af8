"""`pip install .` carries everything: every package, the templates, static files and
translations. The wheel is installed in a fresh virtualenv and Django is checked from a
directory outside the source tree, with production settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.conf import settings

PROBE = """
import json, config, django
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template
django.setup()
get_template("channels/email/layout.html")
get_template("subscribers/preferences.html")
print(json.dumps({
    "config": config.__file__,
    "templates": [str(d) for d in settings.TEMPLATES[0]["DIRS"]],
    "css": finders.find("css/bulletin.css"),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    # A copy of the working tree, so the build's own files (build/, *.egg-info) stay out of it.
    source = root / "source"
    ignore = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__", "staticfiles")
    shutil.copytree(settings.BASE_DIR, source, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            str(source),
            "-w",
            str(root / "dist"),
        ],
        check=True,
        cwd=root,
    )
    [wheel] = (root / "dist").glob("bulletin-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True)
    # The dependencies come from the test run's own environment, but not its editable Bulletin:
    # a .pth line adds that site-packages without running its .pth files (the editable finder).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, root


def _run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "packaging-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "bulletin.example.com",
        "FIELD_ENCRYPTION_KEY": "qCj3rSvbHD6WJ2lQ3vTCHrk4ksx2cVcRtkBZCUX6hKc=",
        "SITE_URL": "https://bulletin.example.com",
        "DATABASE_URL": "sqlite:///" + str(cwd / "db.sqlite3"),
    }
    return subprocess.run([str(python), *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_installed_wheel_passes_django_admin_check_outside_the_source_tree(installed):
    python, root = installed
    outside = root / "elsewhere"
    outside.mkdir(exist_ok=True)
    result = _run(python, outside, "-m", "django", "check")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout


def test_the_installed_wheel_finds_its_templates_and_static_files_in_site_packages(installed):
    python, root = installed
    result = _run(python, root, "-c", PROBE)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    source = str(settings.BASE_DIR)
    assert "site-packages" in found["config"] and not found["config"].startswith(source)
    assert all("site-packages" in d and "bulletin_templates" in d for d in found["templates"])
    assert found["css"] and "bulletin_static" in found["css"]
