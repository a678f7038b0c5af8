"""`{% if request.user|has_role:"admin" %}`: templates show only what the services allow."""

from __future__ import annotations

from django import template

from core.roles import Role, user_has_role

register = template.Library()


@register.filter
def has_role(user, name: str) -> bool:
    role = Role.from_name(name)
    return role is not None and user_has_role(user, role)
