"""REST endpoints of the classifiers app, one module per area; each exposes ``urlpatterns``."""
