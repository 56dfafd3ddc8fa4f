"""Who may create, manage and read a campaign."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from core.roles import ADMIN, SCIENTIST, has_role
from labeling.models import Campaign


def can_create_campaign(user) -> bool:
    return has_role(user, SCIENTIST, ADMIN)


def can_manage(user, campaign: Campaign) -> bool:
    """Edit, inspect, see every vote: admins, and scientists who own or collaborate on the campaign."""
    if not getattr(user, "is_authenticated", False):
        return False
    if has_role(user, ADMIN):
        return True
    if not has_role(user, SCIENTIST):
        return False
    if campaign.owner_id == user.pk:
        return True
    return campaign.collaborators.filter(pk=user.pk).exists()


def can_view(user, campaign: Campaign) -> bool:
    """Read a campaign's description, tutorial and field guide: its managers, and volunteers it is open to."""
    if can_manage(user, campaign):
        return True
    if not getattr(user, "is_authenticated", False) or campaign.state == Campaign.State.DRAFT:
        return False
    if campaign.access == Campaign.Access.EVERYONE:
        return True
    return campaign.volunteers.filter(pk=user.pk).exists()


def require_manage(actor, campaign: Campaign) -> None:
    if not can_manage(actor, campaign):
        raise PermissionDenied("only the campaign's owner, its collaborators and admins may change it")
