"""API routes of the activelearning app: the loop's endpoints (activelearning/api/loop.py)."""

from activelearning.api import loop

urlpatterns = [*loop.urlpatterns]
