import json

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def jsonify(value) -> str:
    """A JSON literal for message templates (templates/channels/<kind>/*.json)."""
    return mark_safe(json.dumps(value))  # noqa: S308  (JSON-encoded, inserted into JSON, never HTML)
