"""Uploaded media served by Bulletin itself in the embedded default (no web server in front).
Production stores media in S3-compatible storage (or has its web server serve MEDIA_ROOT) and
sets SERVE_MEDIA=false; this view then answers 404."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.views.static import serve


def media_file(request, path: str):
    if not settings.SERVE_MEDIA:
        raise Http404("Media are not served here.")
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    # Images only are stored, but never let a browser run anything from this folder.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "public, max-age=31536000, immutable"  # names are random, never reused
    return response
