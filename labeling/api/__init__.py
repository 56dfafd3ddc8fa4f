"""REST endpoints of the labeling app, one module per area; each module exposes ``urlpatterns``."""
