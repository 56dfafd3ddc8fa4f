"""Rate limits: how many votes, Talk posts, sign-ups and log-ins one account and one address may send.

Each limit is a few fixed windows (``Rate``: at most ``count`` in ``seconds``), counted per account and per
address in the shared cache, never in a process, so every daphne worker sees the same counts: in Redis when
``REDIS_URL`` is set (one pipelined round trip of atomic INCRs per request), else in Django's database cache
(``manage.py createcachetable``). Past a limit the request is refused with 429, a message saying when to come
back and a ``Retry-After`` header.

The numbers sit far above what a person does. A fast volunteer classifies about two candidates a second and
the classify page's outbox, back from a lost connection, sends what it held one after the other; one address
may carry a whole classroom, or a load bench of hundreds of simulated volunteers on 127.0.0.1, so the per-
address vote limit is wide (``VOTES_PER_ADDRESS_PER_MINUTE``). ``RATE_LIMIT_SCALE`` multiplies every limit
(0 switches them off; a saturation bench raises it). A cache that cannot be reached lets requests through:
the limits protect the site, they must not take it down with Redis.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from core.conf import blink_setting
from core.errors import ServiceError, refusal_body, wants_json

log = logging.getLogger(__name__)
PREFIX = "ratelimit"
_now = time.time  # the clock the windows are cut from (a test pins it)


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


@dataclass(frozen=True)
class Limit:
    name: str
    what: str  # said in the refusal: "votes", "comments", ...
    per_account: tuple[Rate, ...] = ()
    per_address: tuple[Rate, ...] = ()


def _limits() -> dict[str, Limit]:
    per_address_votes = blink_setting("VOTES_PER_ADDRESS_PER_MINUTE")
    return {
        # 600 a minute is five times a fast volunteer's sustained pace, with room for the outbox's catch-up.
        "vote": Limit("vote", "votes", (Rate(600, 60), Rate(12_000, 3600)), (Rate(per_address_votes, 60),)),
        "talk": Limit("talk", "comments", (Rate(10, 60), Rate(100, 3600)), (Rate(60, 60), Rate(600, 3600))),
        "signup": Limit("signup", "sign-ups", (), (Rate(5, 60), Rate(20, 3600))),
        # django-axes locks a (username, address) pair after repeated failures; these stop one address spraying
        # many usernames, and many addresses guessing one.
        "login": Limit("login", "log-in attempts", (Rate(20, 900),), (Rate(30, 60), Rate(300, 3600))),
    }


class RateLimited(ServiceError):
    """Past a limit; ``retry_after`` (seconds) becomes the Retry-After header (``core.api_errors`` for the API)."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def client_address(request) -> str:
    """The address the request came from. Behind Blink's TLS proxy that is REMOTE_ADDR as the proxy hands it on
    (daphne's --proxy-headers sets it from X-Forwarded-For); the header itself is never trusted here."""
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def _scale() -> float:
    return float(blink_setting("RATE_LIMIT_SCALE"))


def _windows(limit: Limit, *, account: str | None, address: str | None) -> list[tuple[str, int, int]]:
    """(cache key, allowed count, seconds) of each window this request counts in."""
    scale = _scale()
    now = int(_now())
    out = []
    for scope, ident, rates in (("account", account, limit.per_account), ("address", address, limit.per_address)):
        if ident is None:
            continue
        for rate in rates:
            window = now // rate.seconds
            key = f"{PREFIX}:{limit.name}:{scope}:{rate.seconds}:{ident}:{window}"
            out.append((key, max(1, math.floor(rate.count * scale)), rate.seconds))
    return out


def _redis():
    """A client of the Redis the cache lives in, or None when the cache is the database."""
    global _client
    url = getattr(settings, "REDIS_URL", "")
    if not url or "RedisCache" not in settings.CACHES["default"]["BACKEND"]:
        return None
    if _client is None or _client[0] != url:
        import redis

        _client = (url, redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5))
    return _client[1]


_client = None


def _cache_key(key: str) -> str:
    return cache.make_key(key)


def _count(windows: list[tuple[str, int, int]]) -> list[int]:
    """Add one to every window and return the new counts."""
    client = _redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for key, _, seconds in windows:
            full = _cache_key(key)
            pipe.set(full, 0, ex=seconds + 1, nx=True)  # a new window starts at zero and expires with itself
            pipe.incr(full)
        replies = pipe.execute()
        return [int(n) for n in replies[1::2]]
    counts = []
    for key, _, seconds in windows:
        # The database cache's incr is a read and a write: concurrent requests may undercount by a few, which a
        # limit this far above a person's pace can afford.
        if cache.add(key, 1, timeout=seconds + 1):
            counts.append(1)
            continue
        try:
            counts.append(cache.incr(key))
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=seconds + 1)
            counts.append(1)
    return counts


def _wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def check(name: str, *, account=None, address: str | None = None) -> None:
    """Count one request of kind ``name`` for this account (a user, or a username for log-ins) and address;
    raise ``RateLimited`` when that goes past a limit."""
    if _scale() <= 0:
        return
    limit = _limits()[name]
    ident = None if account is None else str(getattr(account, "pk", account))[:150].lower()
    windows = _windows(limit, account=ident, address=address)
    if not windows:
        return
    try:
        counts = _count(windows)
    except Exception:  # noqa: BLE001 - an unreachable cache must not refuse volunteers; see the module docstring
        log.warning("rate limits unavailable (cache unreachable); %s let through", name, exc_info=True)
        return
    now = _now()
    over = [(key, seconds) for (key, allowed, seconds), n in zip(windows, counts, strict=True) if n > allowed]
    if not over:
        return
    retry_after = max(1, max(math.ceil(seconds - now % seconds) for _, seconds in over))
    raise RateLimited(
        f"Too many {limit.what} in a short time: please wait {_wait(retry_after)} and try again.",
        retry_after=retry_after,
    )


def check_request(name: str, request, *, account=None) -> None:
    """``check`` for a request: its signed-in user (unless ``account`` says otherwise) and its address."""
    if account is None and getattr(request.user, "is_authenticated", False):
        account = request.user
    check(name, account=account, address=client_address(request))


def refusal_response(request, exc: RateLimited, *, template: str | None = None) -> HttpResponse:
    """The 429 of a page or an endpoint outside DRF: JSON for the API, else ``template`` (given ``message``)
    or the message as text."""
    if wants_json(request):
        response = JsonResponse(refusal_body(exc.message, code=exc.code), status=429)
    elif template:
        response = render(request, template, {"message": exc.message}, status=429)
    else:
        response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(exc.retry_after)
    return response


def rate_limited(
    name: str, *, methods: tuple[str, ...] = ("POST",), account_field: str | None = None, template: str | None = None
):
    """Decorate a page view: its ``methods`` requests count towards limit ``name``. ``account_field`` names the
    form field that identifies the account when nobody is signed in yet (the username of a log-in); ``template``
    is the page a person sees past the limit."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                account = None
                if account_field is not None:
                    account = (request.POST.get(account_field) or "").strip() or None
                try:
                    check_request(name, request, account=account)
                except RateLimited as exc:
                    return refusal_response(request, exc, template=template)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def forget_counts() -> None:
    """Drop every count kept in Redis (each test starts from zero; an admin may lift limits after a false
    alarm). Counts in the database cache go with its rows (and with a test's rolled-back transaction)."""
    client = _redis()
    if client is None:
        return
    keys = list(client.scan_iter(match=_cache_key(f"{PREFIX}:*"), count=1000))
    if keys:
        client.delete(*keys)
