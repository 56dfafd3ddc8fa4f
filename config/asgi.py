"""ASGI entry point: HTTP through Django, websockets through Channels (served by daphne)."""

import gc
import os
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
MAX_IDLE_REQUEST_THREADS = 128


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain run in one thread hop per request.

    Blink's views (DRF) and middleware are synchronous. Django's own handler builds the chain in async mode,
    where every MiddlewareMixin hook (process_request, process_response; ~16 for this MIDDLEWARE) is a separate
    sync_to_async hop, and a sync-only middleware adds async_to_sync hops around it: milliseconds per request
    of thread switching on 2 cores before any view code ran. Here the chain is built in sync mode and entered
    once, in the request's own thread (the ThreadSensitiveContext ASGIHandler opens per request), as under WSGI.
    Async views still work: the sync chain runs them with async_to_sync.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
        self._idle_threads: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        """Django's, but each request's sync code runs on a thread kept from earlier requests.

        Django opens a ThreadSensitiveContext per request, and asgiref gives each one a new one-thread executor:
        a thread started for every request and another started to join it afterwards, CPU that the classify
        load showed. asgiref lets a context run on an executor the caller
        owns; here they are kept in a free list, one per request in flight, so a request still has one thread
        of its own for all its sync code (what Django's per-thread database connections need) but no thread is
        started or joined while serving. Between requests a thread holds nothing: request_finished has
        closed or returned its database connection, as under a threaded WSGI server.
        """
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        executor = (
            self._idle_threads.pop() if self._idle_threads else ThreadPoolExecutor(1, thread_name_prefix="request")
        )
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._release(executor)

    def _release(self, executor: ThreadPoolExecutor) -> None:
        # After a burst the extra threads end, rather than wait idle for ever.
        if len(self._idle_threads) < MAX_IDLE_REQUEST_THREADS:
            self._idle_threads.append(executor)
        else:
            executor.shutdown(wait=False)


django.setup(set_prefix=False)
django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from frontend.routing import websocket_urlpatterns  # noqa: E402
from frontend.websocket_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files (Blink's CSS/JS and the BokehJS bundled in the bokeh package) come from the installed
        # apps, so one daphne process serves the whole site offline with no collectstatic step.
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


def _freeze_startup_objects() -> None:
    """Leave the objects made at start-up out of the garbage collector's full passes.

    Django, DRF, bokeh and every view module make hundreds of thousands of long-lived objects, and each full
    (generation 2) collection walks them all while holding the GIL: long pauses in a loaded daphne, every few
    seconds, stalling every request in flight (the classify bench's p95 was mostly these). The URL conf is
    imported first (Django would otherwise import the views on the first request), then gc.freeze() moves
    everything alive to the permanent generation; what requests allocate is still collected as before.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URL conf and every view module now
    gc.collect()
    gc.freeze()


_freeze_startup_objects()
