"""Blink settings.

One settings module configured from the environment, so a developer laptop (SQLite, in-memory channel
layer), the test suite (PostgreSQL + Redis) and production (``DJANGO_SETTINGS_MODULE=config.production``)
differ only in variables, never in code paths.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = Path(os.environ.get("BLINK_SHARED_DATA", BASE_DIR.parent / "shared" / "data"))
# Where demo packets and local model-file caches live; never committed.
VAR_DIR = Path(os.environ.get("BLINK_VAR_DIR", BASE_DIR / "var"))

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
INSECURE_SECRET_KEY_PREFIX = "blink-insecure"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "blink-insecure-development-key-do-not-use-in-production")
if not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith(INSECURE_SECRET_KEY_PREFIX)):
    # Signed cookies, password-reset tokens and sessions all hang on this key: never run exposed on the
    # well-known development one.
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random string of at least 50 characters when DJANGO_DEBUG=0 "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "core",
    "labeling",
    "classifiers",
    "activelearning",
    "frontend",
    "fixtures",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Refuses oversized bodies before any parser reads them (DRF's JSON parser ignores DATA_UPLOAD_MAX_MEMORY_SIZE).
    "frontend.middleware.RequestSizeLimitMiddleware",
    # Last, as django-axes asks: it must see the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading the user row without the ORM's per-query compile (core/auth.py).
    "core.auth.ModelBackend",
]
# Messages live in the session the request has already loaded; the default cookie storage builds a signer on
# every request, API calls included.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# Django's database sessions, read the same way: the session and the user are two lookups on every request.
SESSION_ENGINE = "core.auth"

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.roles.roles_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'blink.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
# SQLite under `make run`: daphne's request threads and the db_worker write one file, each with its connection.
SQLITE_OPTIONS = {
    # WAL: readers and the one writer never block each other.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    # Seconds a writer waits for another to commit before "database is locked".
    "timeout": 30,
    # A deferred transaction that has read and then writes cannot wait for the lock: SQLite refuses the upgrade
    # at once ("database is locked" whatever the timeout), as waiting could deadlock two such transactions.
    # BEGIN IMMEDIATE takes the write lock first, so a vote or a task queues behind the other writer instead.
    "transaction_mode": "IMMEDIATE",
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
else:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Under daphne every in-flight request runs its sync code in a thread of its own, each with its own
    # connection: 200 volunteers at once would ask PostgreSQL for 200 connections and be refused ("too many
    # clients"). A pool caps a process at DB_POOL_MAX_SIZE; requests beyond it wait their turn (production on).
    DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "0"))


def use_connection_pool(database: dict, *, max_size: int, min_size: int) -> None:
    """A psycopg pool of ``min_size``..``max_size`` connections for ``database`` (a DATABASES entry);
    ``DB_POOL_MIN_SIZE`` overrides ``min_size``. Shared by these settings and config.production."""
    min_size = min(int(os.environ.get("DB_POOL_MIN_SIZE", min_size)), max_size)
    database["OPTIONS"]["pool"] = {"min_size": min_size, "max_size": max_size, "timeout": 20}
    database["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not as well
    # With a pool, a health check is an extra round trip on every checkout (every request). psycopg-pool
    # already drops a connection that comes back broken, so after a PostgreSQL restart only the requests
    # that draw a dead connection fail (DB_POOL_CHECKS=1 turns the check back on).
    database["CONN_HEALTH_CHECKS"] = os.environ.get("DB_POOL_CHECKS", "0") == "1"


if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" and DB_POOL_MAX_SIZE > 0:
    # Opened in full at start by default: a pool that grows under a burst makes requests wait while
    # connections are set up one after another.
    use_connection_pool(DATABASES["default"], max_size=DB_POOL_MAX_SIZE, min_size=DB_POOL_MAX_SIZE)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]


def _bokehjs_dir() -> list[tuple[str, str]]:
    # BokehJS ships inside the bokeh wheel; serving it from there keeps the site usable offline.
    from bokeh.util.paths import bokehjs_path

    return [("bokeh", str(Path(bokehjs_path()) / "js"))]


STATICFILES_DIRS = _bokehjs_dir()

# Route names (resolved by Django), so the account pages move with their URL conf.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Uploads: nothing in Blink needs more than an Avro packet batch through the web.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
# Whole-request ceilings enforced by frontend.middleware.RequestSizeLimitMiddleware from Content-Length:
# JSON and form bodies share DATA_UPLOAD_MAX_MEMORY_SIZE; multipart uploads may be larger, up to
# blink_setting("MAX_UPLOAD_BYTES") (core/conf.py).

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "not signed in" into 401 everywhere (Session alone
    # gives 403); a request without a token header falls through to the session, CSRF-checked.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Blink API",
    "DESCRIPTION": "Alerts, campaigns, votes, models and the active-learning loop of Blink.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.add_error_responses",
    ],
}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("BLINK_CHANNEL_PREFIX", "blink")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Shared by every web server and worker (built console figures, comparisons): Redis when configured, else a
# database table, never process memory or a local file.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("BLINK_CACHE_PREFIX", "blink"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "blink_cache"}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Login rate limiting: 10 failures lock an (username, IP) pair out for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "frontend/accounts/lockout.html"
AXES_VERBOSE = False

# Content-Security-Policy: no inline script anywhere; bokeh's embed JSON lives in <script type="application/json">.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'", "ws:", "wss:"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("BLINK_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "daphne": {"level": "WARNING"}},
}

# Blink's own knobs (promotion margin, held-out split, drift thresholds, cache lifetimes ...) are read by
# core.conf.blink_setting(), which states each default once and reads its BLINK_<NAME> environment variable.
# A settings module (or a test) overrides one here: BLINK = {"PROMOTE_MARGIN": 0.02}.
BLINK: dict = {}
