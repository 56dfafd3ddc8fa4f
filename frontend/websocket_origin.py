"""Websockets open only from Blink's own pages: the browser's ``Origin`` must be the site the socket is opened on.

Channels' ``AllowedHostsOriginValidator`` compares the Origin's host name with ``ALLOWED_HOSTS``, which carry no
port, so a page served by anything else on the same host (``http://localhost:9999``) could open a socket with
the volunteer's cookie. Here the Origin's host *and port* must equal the ``Host`` the socket was requested on
(the same rule as Django's CSRF check of an HTTPS Referer), or be listed in ``CSRF_TRUSTED_ORIGINS``; the host
must also be an allowed host. A request without an Origin (no browser sends one) is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _origin_netloc(origin: str) -> tuple[str, str] | None:
    """(host, port) of an Origin header, the scheme's default port filled in; None when it is no origin."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), str(port) if port is not None else DEFAULT_PORTS[parts.scheme]


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    if origin.rstrip("/") in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        return True
    netloc = _origin_netloc(origin)
    host_header = _header(scope, b"host")
    if netloc is None or not host_header:
        return False
    host, port = split_domain_port(host_header.lower())
    if not host or not validate_host(host, _allowed_hosts()):
        return False
    if not port:
        # Behind a TLS proxy the socket arrives as ws:// on the default port while the page was https://:
        # a Host without a port matches an Origin on its scheme's default port.
        return netloc[0] == host.strip("[]") and netloc[1] in ("80", "443")
    return netloc == (host.strip("[]"), port)


class SameOriginValidator:
    """ASGI middleware: refuses a websocket whose Origin is not the site it is opened on."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
