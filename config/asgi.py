"""ASGI entry point: HTTP through Django, websockets through Channels (served by daphne)."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain run in one thread hop per request.

    Blink's views (DRF) and middleware are synchronous. Django's own handler builds the chain in async mode,
    where every MiddlewareMixin hook (process_request, process_response; ~16 for this MIDDLEWARE) is a separate
    sync_to_async hop, and a sync-only middleware adds async_to_sync hops around it: measured ~7 ms per request
    of thread switching on 2 cores before any view code ran. Here the chain is built in sync mode and entered
    once, in the request's own thread (the ThreadSensitiveContext ASGIHandler opens per request), as under WSGI.
    Async views still work: the sync chain runs them with async_to_sync.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)


django.setup(set_prefix=False)
django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from frontend.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files (Blink's CSS/JS and the BokehJS bundled in the bokeh package) come from the installed
        # apps, so one daphne process serves the whole site offline with no collectstatic step.
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
