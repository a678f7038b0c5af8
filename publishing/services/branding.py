"""The publication's look (name, logo, colour, footer, postal address) as messages use it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from core.roles import Role, role_require
from publishing.layout_models import Branding
from publishing.services.images import media_absolute_url

DEFAULT_COLOUR = "#1d4ed8"
HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
BRANDING_FIELDS = ("site_name", "sender_name", "logo", "primary_colour", "footer_text", "postal_address")


@dataclass(frozen=True)
class Brand:
    site_name: str
    sender_name: str
    logo_url: str
    primary_colour: str
    footer_text: str
    postal_address: str
    from_name: str = ""  # set only when the branding names a sender: it then replaces the channel's

    def context(self) -> dict[str, str]:
        """What message templates print: site_name is the sender name they show."""
        return {
            "site_name": self.sender_name,
            "brand_name": self.site_name,
            "logo_url": self.logo_url,
            "brand_colour": self.primary_colour,
            "footer_text": self.footer_text,
            "postal_address": self.postal_address,
        }


def brand_current() -> Brand:
    """The saved branding with the settings filling what is blank (one small query)."""
    row = Branding.objects.filter(pk=1).first() or Branding()
    site_name = row.site_name or settings.SITE_NAME
    return Brand(
        site_name=site_name,
        sender_name=row.sender_name or site_name,
        logo_url=media_absolute_url(row.logo.url) if row.logo else "",
        # Printed into the emails' CSS: only a validated #rrggbb ever gets there.
        primary_colour=row.primary_colour if HEX.match(row.primary_colour or "") else DEFAULT_COLOUR,
        footer_text=row.footer_text,
        postal_address=row.postal_address or settings.POSTAL_ADDRESS,
        from_name=row.sender_name,
    )


@transaction.atomic
def branding_update(*, actor, **fields: Any) -> Branding:
    """Save the branding (admins only); `fields` are already validated by the admin form."""
    role_require(actor, Role.ADMIN, "Changing the branding")
    row, _ = Branding.objects.select_for_update().get_or_create(pk=1)
    changed = [name for name in BRANDING_FIELDS if name in fields]
    for name in changed:
        setattr(row, name, fields[name])
    row.updated_by = actor
    row.save(update_fields=[*changed, "updated_by", "updated_at"])
    return row
