"""Admin for publishing: compose with live per-channel preview, workflow, test sends, publish
with the audience confirmed, digest logs, A/B tests and the ranking explanation page; branding
and message layouts; automations."""

from publishing.admin import (  # noqa: F401  (register the ModelAdmins)
    automations,
    branding,
    digests,
    layouts,
    publications,
    transactional,
)
