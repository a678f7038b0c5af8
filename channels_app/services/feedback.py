"""Provider feedback on deliveries (SES delivery, bounce, complaint, reject notifications).

Analytics parses the notifications; this module owns the delivery rows. Each target state is
one UPDATE guarded by the states that may move to it (models.DELIVERY_TRANSITIONS), so
feedback is bulk, idempotent and never walks the state machine backwards: a late "delivered"
does not undo a bounce, and a repeated complaint changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from django.db import transaction
from django.db.models import Case, F, TextField, Value, When
from django.utils import timezone

from channels_app.models import DELIVERY_TRANSITIONS, Delivery

FEEDBACK_STATES = (
    Delivery.State.DELIVERED,
    Delivery.State.BOUNCED,
    Delivery.State.COMPLAINED,
    Delivery.State.FAILED,
)


def _sources(target: str) -> list[str]:
    return [state for state, targets in DELIVERY_TRANSITIONS.items() if target in targets and state != target]


@transaction.atomic
def deliveries_feedback_apply(*, outcomes: Mapping[int, tuple[str, str]]) -> dict[str, int]:
    """Move deliveries to their feedback state: {delivery_id: (state, reason)}. Returns how many
    moved per state; a delivery whose current state cannot move there is left as it is."""
    by_state: dict[str, dict[int, str]] = defaultdict(dict)
    for delivery_id, (state, reason) in outcomes.items():
        if state not in FEEDBACK_STATES:
            raise ValueError(f"{state!r} is not a feedback state")
        by_state[state][delivery_id] = reason
    moved: dict[str, int] = {}
    now = timezone.now()
    for state in FEEDBACK_STATES:  # order matters: delivered before a bounce or complaint of the same batch
        reasons = by_state.get(state)
        if not reasons:
            continue
        fields = {"state": state, "updated_at": now}
        if any(reasons.values()):
            fields["last_error"] = Case(
                *[When(pk=pk, then=Value(reason[:2000])) for pk, reason in reasons.items()],
                default=F("last_error"),
                output_field=TextField(),
            )
        moved[state] = Delivery.objects.filter(pk__in=list(reasons), state__in=_sources(state)).update(**fields)
    return moved
