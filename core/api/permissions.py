"""Role checks for every API view.

A view states the role it needs to read (`read_role`, viewer by default) and to write
(`write_role`, admin by default, so a view that forgets is closed, not open). Actions that
need more than the view's default use `requires(Role.PUBLISHER)`.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.roles import Role, user_has_role


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return user_has_role(request.user, self.required_role(request, view))

    def required_role(self, request, view) -> Role:
        if request.method in SAFE_METHODS:
            return getattr(view, "read_role", Role.VIEWER)
        return getattr(view, "write_role", Role.ADMIN)


def requires(role: Role) -> type[BasePermission]:
    """A permission class demanding `role` for every method."""

    class _Requires(RolePermission):
        message = f"This needs the {role.group_name} role."

        def required_role(self, request, view) -> Role:
            return role

    _Requires.__name__ = f"Requires{role.name.title()}"
    return _Requires
