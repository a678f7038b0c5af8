"""The compose editor's image upload (drag, paste or the toolbar's picker): JSON in and out."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_POST

from core.exceptions import ApplicationError
from publishing.services.images import image_upload


@require_POST
def image_upload_view(request):
    """POST (CSRF-checked: admin_view wraps it) one image as `file`; answers its absolute URL."""
    upload = request.FILES.get("file")
    if upload is None:
        message = "No image received: send it as the form field `file`."
        return JsonResponse({"message": message, "extra": {"fields": {"file": [message]}}}, status=400)
    try:
        stored = image_upload(actor=request.user, upload=upload)
    except ApplicationError as exc:
        return JsonResponse({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    return JsonResponse({"url": stored.url, "width": stored.width, "height": stored.height}, status=201)
