"""Pre-send checks of a publication: the email the send would produce, rendered, and checked
for what decides whether it lands in the inbox. Each check answers pass, warn, fail (blocks
publishing unless a publisher overrides it with a reason: gate.py) or unavailable.

    spam.py        SpamAssassin's score through spamd (spamc.py speaks the protocol)
    links.py       links that answer an error (through core.outbound, cached)
    layout.py      size against Gmail's clip, images without alt text, image-to-text ratio
    compliance.py  the unsubscribe link and the postal address
    wording.py     subject length and capitals, unresolved merge fields
    domains.py     the From domains' SPF, DKIM, DMARC (last daily check), a warning
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from core.roles import Role, role_require
from publishing.models import Publication
from publishing.selectors import publication_merge_warnings
from publishing.services.checks.base import CheckReport, CheckResult, Status
from publishing.services.checks.compliance import check_postal_address, check_unsubscribe
from publishing.services.checks.domains import check_sender_domains
from publishing.services.checks.layout import check_image_alt, check_image_ratio, check_size
from publishing.services.checks.links import check_links
from publishing.services.checks.message import checked_message
from publishing.services.checks.spam import check_spam
from publishing.services.checks.wording import check_merge_fields, check_subject

__all__ = ["CheckReport", "CheckResult", "Status", "publication_checks", "publication_checks_run"]


def publication_checks_run(*, publication: Publication) -> CheckReport:
    """Every check of the email this publication's send would produce (no role: the caller's)."""
    started = time.perf_counter()
    message = checked_message(publication=publication)
    with ThreadPoolExecutor(max_workers=1) as pool:  # spamd takes seconds: meanwhile, the rest
        spam = pool.submit(check_spam, message)
        rest = _content_checks(message, publication=publication)
        results = [spam.result(), *rest]
    return CheckReport(results=results, elapsed_ms=round((time.perf_counter() - started) * 1000))


def _content_checks(message, *, publication: Publication) -> list[CheckResult]:
    return [
        check_links(message),
        check_size(message),
        check_image_alt(message),
        check_image_ratio(message),
        check_unsubscribe(message),
        check_postal_address(message),
        check_sender_domains(),
        check_subject(message),
        check_merge_fields(
            message, publication=publication, warnings=publication_merge_warnings(publication=publication)
        ),
    ]


def publication_checks(*, publication: Publication, actor) -> CheckReport:
    """The checks as an editor asks for them (admin's publish page, the API)."""
    role_require(actor, Role.EDITOR, "Running pre-send checks")
    return publication_checks_run(publication=publication)
