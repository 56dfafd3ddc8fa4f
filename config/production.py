"""Production settings: everything of ``config.settings`` plus Django's deployment checklist.

``DJANGO_SETTINGS_MODULE=config.production DJANGO_SECRET_KEY=... DJANGO_ALLOWED_HOSTS=blink.example.org
manage.py check --deploy`` reports no issues (tests/security/test_production_settings.py runs it). Blink is meant to
sit behind a TLS-terminating reverse proxy that sets X-Forwarded-Proto and caps request bodies.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import INSECURE_SECRET_KEY_PREFIX, use_connection_pool

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith(INSECURE_SECRET_KEY_PREFIX) or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random string of at least 50 characters "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# A bounded connection pool per daphne process (see config.settings): on unless DB_POOL_MAX_SIZE=0.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" and "pool" not in DATABASES["default"]["OPTIONS"]:  # noqa: F405
    _pool_size = int(os.environ.get("DB_POOL_MAX_SIZE", "20"))
    if _pool_size > 0:
        use_connection_pool(DATABASES["default"], max_size=_pool_size, min_size=2)  # noqa: F405

# No "testserver" or wildcard fallback in production: the hosts Blink answers for are stated explicitly.
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names Blink serves (comma-separated).")
# Django 4+ checks the Origin header of unsafe requests against these.
CSRF_TRUSTED_ORIGINS = [f"https://{h.lstrip('.')}" for h in ALLOWED_HOSTS if h != "*"]

SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 14 * 24 * 3600
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SSL_REDIRECT", "1") == "1"
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
