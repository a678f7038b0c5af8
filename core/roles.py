"""The four roles of SPEC §5 as Django groups, ordered: each role can do what the ones below it can.

viewer    reads everything in admin and the API
editor    drafts, previews and test-sends publications; manages topics
publisher approves, schedules and publishes; creates confirmed subscribers
admin     manages channels, users, erasure and everything else
"""

from __future__ import annotations

import enum

from django.contrib.auth.models import Group, Permission

from core.exceptions import ApplicationError

_OUR_APPS = ("subscribers", "channels_app", "publishing", "analytics")


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    PUBLISHER = 3
    ADMIN = 4

    @property
    def group_name(self) -> str:
        return self.name.lower()

    @classmethod
    def from_name(cls, name: str) -> Role | None:
        try:
            return cls[name.upper()]
        except KeyError:
            return None


# Model permissions (codename prefixes per model) each role adds on top of the previous one.
_ROLE_GRANTS: dict[Role, list[tuple[str, str]]] = {
    Role.VIEWER: [(app, "view_") for app in _OUR_APPS],
    Role.EDITOR: [
        ("publishing", "add_publication"),
        ("publishing", "change_publication"),
        ("subscribers", "add_topic"),
        ("subscribers", "change_topic"),
        ("subscribers", "delete_topic"),
        # Automations: editors build and edit them (issue 15).
        ("publishing", "add_automation"),
        ("publishing", "change_automation"),
        ("publishing", "delete_automation"),
        ("publishing", "add_automationstep"),
        ("publishing", "change_automationstep"),
        ("publishing", "delete_automationstep"),
    ],
    Role.PUBLISHER: [
        ("publishing", ""),
        ("subscribers", "add_subscriber"),
        ("subscribers", "change_subscriber"),
        ("subscribers", "add_subscription"),
        ("subscribers", "change_subscription"),
        ("subscribers", "delete_subscription"),
        ("subscribers", "add_suppression"),
        ("channels_app", "change_delivery"),
        ("channels_app", "change_deadletter"),  # the dead-letter view's requeue
        ("channels_app", "change_send"),
    ],
    Role.ADMIN: [(app, "") for app in _OUR_APPS] + [("django_celery_beat", ""), ("authtoken", "")],
}


def user_role(user) -> Role | None:
    """The highest role of a user, cached on the instance for the request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    cached = getattr(user, "_bulletin_role", False)
    if cached is not False:
        return cached
    if user.is_superuser:
        role = Role.ADMIN
    else:
        names = user.groups.values_list("name", flat=True)
        roles = [r for r in (Role.from_name(n) for n in names) if r]
        role = max(roles) if roles else None
    user._bulletin_role = role
    return role


def user_has_role(user, role: Role) -> bool:
    current = user_role(user)
    return current is not None and current >= role


def role_require(actor, role: Role, action: str) -> None:
    """Refuse `actor` below `role` (ApplicationError, 403): services call this so admin, API and
    shell agree. `actor=None` is the system itself (beat, tasks, the guard), which acts on
    decisions already checked."""
    if actor is not None and not user_has_role(actor, role):
        raise ApplicationError(f"{action} needs the {role.group_name} role.", status_code=403)


def roles_sync(*, using: str = "default") -> None:
    """Create the role groups and (re)grant their permissions; idempotent."""
    permissions = list(
        Permission.objects.using(using)
        .select_related("content_type")
        .filter(content_type__app_label__in=(*_OUR_APPS, "django_celery_beat", "authtoken"))
    )
    granted: list[tuple[str, str]] = []
    for role in Role:
        granted = granted + _ROLE_GRANTS[role]
        group, _ = Group.objects.using(using).get_or_create(name=role.group_name)
        group.permissions.set([p for p in permissions if _matches(p, granted)])


def _matches(permission: Permission, grants: list[tuple[str, str]]) -> bool:
    app = permission.content_type.app_label
    return any(app == g_app and permission.codename.startswith(prefix) for g_app, prefix in grants)
