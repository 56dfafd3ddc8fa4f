"""Streamed downloads that stay streamed under daphne.

Django serves a ``StreamingHttpResponse`` built on a *synchronous* iterator under ASGI by calling
``list()`` on it first (with a warning): a million-vote export is built whole in memory before the first
byte leaves. These responses keep the sync generator (exports read the database through server-side
cursors, which is sync code) and hand it to the event loop in batches of about 256 kB, each batch pulled in
Django's one sync thread for the request, so memory stays flat whatever the export's size. Under WSGI and
the test client they behave exactly like the Django classes they extend.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import FileResponse, StreamingHttpResponse

BATCH_BYTES = 256 * 1024


class _PulledInBatches:
    async def __aiter__(self):
        iterator = iter(self.streaming_content)
        done = False

        def pull() -> bytes:
            nonlocal done
            parts, size = [], 0
            for part in iterator:
                parts.append(part)
                size += len(part)
                if size >= BATCH_BYTES:
                    return b"".join(parts)
            done = True
            return b"".join(parts)

        while not done:
            # thread_sensitive: every batch runs in the same thread, so the export's database cursor and
            # connection are the ones it opened.
            chunk = await sync_to_async(pull, thread_sensitive=True)()
            if chunk:
                yield chunk


class StreamedResponse(_PulledInBatches, StreamingHttpResponse):
    """``StreamingHttpResponse`` over a sync iterator, streamed for real under ASGI."""


class StreamedFileResponse(_PulledInBatches, FileResponse):
    """``FileResponse`` (say a spooled temporary file), read block by block under ASGI too."""
