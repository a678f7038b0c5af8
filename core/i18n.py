"""Languages: which shipped language a stored locale is rendered in, and compiling the catalogues.

Bulletin ships the languages in settings.LANGUAGES (locale/<code>/LC_MESSAGES/django.po). A
subscriber's `locale` may name any language tag ("de", "de-AT", "fr"); they get the closest
shipped language, else the default (English). Catalogues are compiled to .mo files by the
install (`make install`, the Dockerfile, the test session) with Babel, so no system gettext is
needed on a fresh machine.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.utils.translation import get_supported_language_variant

logger = logging.getLogger(__name__)


def language_for(locale: str | None) -> str:
    """The shipped language to use for a stored locale (its closest variant), else the default."""
    tag = (locale or "").strip().replace("_", "-").lower()
    if tag:
        try:
            return get_supported_language_variant(tag)
        except LookupError:
            pass
    return settings.LANGUAGE_CODE


def translations_compile(*, locale_dirs: list[Path] | None = None, force: bool = False) -> list[Path]:
    """Compile every django.po under the locale folders into the django.mo beside it (when the
    .po is newer, or `force`); returns the .mo files written. Babel's reader and writer, no msgfmt."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for locale_dir in locale_dirs or [Path(p) for p in settings.LOCALE_PATHS]:
        for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
            mo_path = po_path.with_suffix(".mo")
            if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            written.append(mo_path)
            logger.info("compiled %s", mo_path)
    return written
