"""Sign up, log in, log out, and the home page (the campaigns a volunteer may classify)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from core.ratelimit import rate_limited
from core.roles import VOLUNTEER, grant_role, public, role_required
from labeling.models import Campaign, Vote

RATE_LIMITED_PAGE = "frontend/rate_limited.html"


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


@public
@require_http_methods(["GET", "POST"])
@rate_limited("signup", template=RATE_LIMITED_PAGE)
def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        grant_role(user, VOLUNTEER)
        login(request, user, backend="core.auth.ModelBackend")
        return redirect("home")
    return render(request, "frontend/accounts/signup.html", {"form": form})


def campaigns_open_to(user):
    """Live campaigns this user may classify: open to everyone, or listing them."""
    return (
        Campaign.objects.filter(state=Campaign.State.LIVE)
        .filter(Q(access=Campaign.Access.EVERYONE) | Q(volunteers=user) | Q(owner=user) | Q(collaborators=user))
        .distinct()
    )


@role_required(VOLUNTEER)
def home(request):
    campaigns = list(
        campaigns_open_to(request.user).annotate(
            n_subjects=Count("subjects", distinct=True),
            n_retired=Count("subjects", filter=Q(subjects__retired=True), distinct=True),
        )
    )
    mine = dict(
        Vote.objects.filter(volunteer=request.user)
        .values_list("campaign_id")
        .annotate(n=Count("id"))
        .values_list("campaign_id", "n")
    )
    for c in campaigns:
        c.my_votes = mine.get(c.pk, 0)
        c.progress_pct = round(100 * c.n_retired / c.n_subjects) if c.n_subjects else 0
    return render(request, "frontend/accounts/home.html", {"campaigns": campaigns, "total_votes": sum(mine.values())})


urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        public(
            # django-axes locks a (username, address) pair after failures; this also limits attempts per
            # username from anywhere and per address over any usernames.
            rate_limited("login", account_field="username", template=RATE_LIMITED_PAGE)(
                LoginView.as_view(template_name="frontend/accounts/login.html", redirect_authenticated_user=True)
            )
        ),
        name="login",
    ),
    path("accounts/logout/", public(LogoutView.as_view()), name="logout"),
    path("accounts/signup/", signup, name="signup"),
]
