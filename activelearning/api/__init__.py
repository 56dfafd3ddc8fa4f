"""REST endpoints of the activelearning app, one module per area; each exposes ``urlpatterns``."""
