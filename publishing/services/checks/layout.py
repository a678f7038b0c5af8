"""Size against Gmail's clip, images without alt text, and the image-to-text ratio."""

from __future__ import annotations

from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.html_scan import is_pixel
from publishing.services.checks.message import CheckedMessage

# Gmail shows "[Message clipped]" past 102 KB of HTML, hiding the footer (unsubscribe, address)
# and the open pixel: https://support.google.com/mail/answer/25760 (the widely measured limit).
GMAIL_CLIP_BYTES = 102 * 1024
SIZE_WARN_BYTES = 90 * 1024
# Fewer words than this per content image reads as an image-heavy mail to spam filters.
WORDS_PER_IMAGE = 100


def check_size(message: CheckedMessage) -> CheckResult:
    size = len(message.html.encode("utf-8"))
    details = {"html_bytes": size, "clip_bytes": GMAIL_CLIP_BYTES, "text_bytes": len(message.text.encode("utf-8"))}
    kb = f"{size / 1024:.1f} KB"
    if size > GMAIL_CLIP_BYTES:
        message_text = f"The HTML is {kb}: Gmail clips messages over 102 KB, hiding the unsubscribe link and footer."
        return CheckResult("size", "Message size", Status.FAIL, message_text, details)
    if size > SIZE_WARN_BYTES:
        return CheckResult(
            "size", "Message size", Status.WARN, f"The HTML is {kb}, close to Gmail's 102 KB clip.", details
        )
    return CheckResult("size", "Message size", Status.PASS, f"The HTML is {kb} (Gmail clips over 102 KB).", details)


def _content_images(message: CheckedMessage) -> list[dict[str, str | None]]:
    return [image for image in message.scan.images if not is_pixel(image)]


def check_image_alt(message: CheckedMessage) -> CheckResult:
    images = _content_images(message)
    missing = [image.get("src") or "" for image in images if not (image.get("alt") or "").strip()]
    details = {"images": len(images), "without_alt": missing}
    if missing:
        text = f"{len(missing)} of {len(images)} images have no alt text (shown when images are blocked, read aloud)."
        return CheckResult("image_alt", "Image alt text", Status.WARN, text, details)
    return CheckResult("image_alt", "Image alt text", Status.PASS, f"All {len(images)} images have alt text.", details)


def check_image_ratio(message: CheckedMessage) -> CheckResult:
    images = len(_content_images(message))
    words = len(message.visible_text.split())
    details = {"images": images, "words": words, "min_words_per_image": WORDS_PER_IMAGE}
    label = "Image-to-text ratio"
    if images == 0:
        return CheckResult("image_ratio", label, Status.PASS, "No images.", details)
    if words < WORDS_PER_IMAGE * images:
        text = (
            f"{images} image{'s' if images > 1 else ''} for {words} words of text: mostly-image mail is often "
            f"filtered as spam (aim for at least {WORDS_PER_IMAGE} words per image)."
        )
        return CheckResult("image_ratio", label, Status.WARN, text, details)
    return CheckResult("image_ratio", label, Status.PASS, f"{images} images for {words} words of text.", details)
