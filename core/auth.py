"""The session and user lookups every signed-in request makes, without the ORM's per-query compile.

Both behave as Django's own (``django.contrib.sessions.backends.db`` and ``ModelBackend``): same table, same
expiry rule, same ``is_active`` rule; they differ only in reading the row through ``core.rows``, which saves
a noticeable share of the CPU a classify request costs the server.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.utils import timezone

from core.rows import fetch_one


class SessionStore(DbSessionStore):
    def _get_session_from_db(self):
        session_key = self.session_key  # validated by SessionBase: None or a plausible key
        found = (
            fetch_one(self.model, "session_key = %s AND expire_date > %s", [session_key, timezone.now()])
            if session_key
            else None
        )
        if found is None:
            self._session_key = None
        return found


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id):
        UserModel = get_user_model()
        user = fetch_one(UserModel, f"{UserModel._meta.pk.column} = %s", [user_id])
        return user if user is not None and self.user_can_authenticate(user) else None
