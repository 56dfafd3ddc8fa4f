"""Who may do what.

Blink has four roles, kept as Django groups so an admin can grant them from the admin site:
``volunteer`` (every signed-in account), ``scientist``, ``mllead`` and ``admin`` (superusers count as
admins). Every page view carries its guard where it is declared (``@role_required(...)`` or
``@public``), and every API view sets ``permission_classes``; ``tests/security/test_role_matrix.py``
walks the URL conf so that no view escapes.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from core.errors import refusal, wants_json

VOLUNTEER = "volunteer"
SCIENTIST = "scientist"
MLLEAD = "mllead"
ADMIN = "admin"
ROLES = (VOLUNTEER, SCIENTIST, MLLEAD, ADMIN)
ROLE_LABELS = {VOLUNTEER: "Volunteer", SCIENTIST: "Scientist", MLLEAD: "ML lead", ADMIN: "Admin"}


def user_roles(user) -> frozenset[str]:
    """The roles a user holds. Admins hold every role; every signed-in user is a volunteer."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_blink_roles", None)
    if cached is not None:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    if user.is_superuser or ADMIN in names:
        roles = frozenset(ROLES)
    else:
        roles = frozenset((names & set(ROLES)) | {VOLUNTEER})
    user._blink_roles = roles
    return roles


def has_role(user, *roles: str) -> bool:
    if VOLUNTEER in roles and user is not None and user.is_authenticated and user.is_active:
        # Every signed-in account is a volunteer: no need to read its groups (saves a query on the
        # classify hot path, where every request asks exactly this).
        return True
    held = user_roles(user)
    return any(role in held for role in roles)


def grant_role(user, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    user.__dict__.pop("_blink_roles", None)


def ensure_groups() -> None:
    for role in ROLES:
        Group.objects.get_or_create(name=role)


def role_required(*roles: str):
    """Guard a page view: anonymous users go to the login page, others without a role get 403."""
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if wants_json(request):
                    return refusal("Authentication credentials were not provided.", status=401)
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                if wants_json(request):
                    return refusal(f"This needs the role: {' or '.join(roles)}.", status=403)
                raise PermissionDenied(f"This page needs the role: {' or '.join(roles)}.")
            return view(request, *args, **kwargs)

        wrapped.blink_roles = roles
        return wrapped

    return decorator


def public(view):
    """Mark a view as deliberately open to everyone (login page, API schema)."""
    view.blink_public = True
    return view


class HasRole(BasePermission):
    """DRF permission: ``permission_classes = [HasRole.of("scientist")]``."""

    roles: tuple[str, ...] = ()
    message = "You do not have the role this endpoint needs."

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        for role in roles:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
        return type(
            f"HasRole_{'_'.join(roles)}", (cls,), {"roles": roles, "message": f"Needs the role: {' or '.join(roles)}."}
        )

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))


def roles_context(request) -> dict:
    roles = user_roles(getattr(request, "user", None))
    return {"blink_roles": roles, "is_scientist": SCIENTIST in roles, "is_mllead": MLLEAD in roles}


__all__ = [
    "ADMIN",
    "MLLEAD",
    "SCIENTIST",
    "VOLUNTEER",
    "HasRole",
    "PermissionDenied",
    "grant_role",
    "has_role",
    "public",
    "role_required",
    "user_roles",
]
