"""Images an editor puts in a publication body: checked, resized and stored through Django's
storage API (the local media folder in the embedded default, S3-compatible storage through
django-storages in production). The body links them by absolute URL, so emails show them."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps, UnidentifiedImageError

from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require

# Pillow format -> the file extension it is stored under. SVG is not accepted: it can carry
# scripts, and most email clients do not show it.
FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
# Decoded size refused before resizing (a small file can decode to gigabytes: a "pixel bomb").
MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class StoredImage:
    url: str
    name: str
    width: int
    height: int


def image_upload(*, actor, upload: UploadedFile) -> StoredImage:
    """Store one uploaded image for a publication body; refuse anything that is not an image."""
    role_require(actor, Role.EDITOR, "Uploading images")
    if upload.size > settings.EDITOR_IMAGE_MAX_BYTES:
        limit = settings.EDITOR_IMAGE_MAX_BYTES // (1024 * 1024)
        raise _refused(f"The image is larger than {limit} MB.")
    image, kind = _open(upload)
    data, width, height = _encode(image, kind, upload)
    name = f"{settings.EDITOR_IMAGE_PREFIX}/{clock.now():%Y/%m}/{uuid.uuid4().hex}.{FORMATS[kind]}"
    storage = storages["default"]
    stored = storage.save(name, ContentFile(data))
    return StoredImage(url=media_absolute_url(storage.url(stored)), name=stored, width=width, height=height)


def media_absolute_url(url: str) -> str:
    """Emails are read away from the site: a stored file's URL with scheme and host."""
    if url.startswith(("https://", "http://")):
        return url
    return settings.SITE_URL + (url if url.startswith("/") else "/" + url)


def _refused(message: str) -> ApplicationError:
    return ApplicationError.for_fields({"file": message}, message)


def _open(upload: UploadedFile) -> tuple[Image.Image, str]:
    try:
        upload.seek(0)
        probe = Image.open(upload)
        kind = probe.format
        if kind not in FORMATS:
            raise _refused(f"{kind or 'This file'} is not accepted: upload a JPEG, PNG, GIF or WebP image.")
        if probe.width * probe.height > MAX_PIXELS:
            raise _refused(f"The image is {probe.width}×{probe.height} pixels: at most 40 megapixels.")
        probe.verify()  # truncated or corrupt data
        upload.seek(0)
        image = Image.open(upload)
        image.load()
    except ApplicationError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise _refused("The file is not an image Bulletin can read (JPEG, PNG, GIF or WebP).") from exc
    return image, kind


def _encode(image: Image.Image, kind: str, upload: UploadedFile) -> tuple[bytes, int, int]:
    """Resized to the email width and re-encoded, which also drops metadata such as GPS
    positions. An animated GIF that already fits is kept as it is (re-encoding loses frames)."""
    max_width = settings.EDITOR_IMAGE_MAX_WIDTH
    if kind == "GIF" and getattr(image, "is_animated", False) and image.width <= max_width:
        upload.seek(0)
        return upload.read(), image.width, image.height
    image = ImageOps.exif_transpose(image)
    if image.width > max_width:
        image.thumbnail((max_width, max_width * 20), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True, progressive=True)
    elif kind == "WEBP":
        image.save(out, "WEBP", quality=85)
    else:  # PNG, and a GIF's first frame when it had to shrink (stored as .gif, decoded by format)
        image.save(out, kind, optimize=True)
    return out.getvalue(), image.width, image.height
