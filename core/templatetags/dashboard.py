"""`{% admin_dashboard %}` on the admin index: the landing dashboard (core/dashboard.py)."""

from __future__ import annotations

from django import template

from core.dashboard import admin_dashboard as dashboard_data
from core.roles import Role, user_has_role

register = template.Library()


@register.inclusion_tag("admin/_dashboard.html", takes_context=True)
def admin_dashboard(context) -> dict:
    user = context["request"].user
    if not user_has_role(user, Role.VIEWER):
        return {"shown": False}
    return {"shown": True, **dashboard_data()}
