"""Open classify pages for the benches: the page's websocket (as little of RFC 6455 as a listening page needs),
what each page received and when it was open, and the live counts the channel layer carried, to compare.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from blinkbench import SLUG

# A count the channel layer saw within this margin of a socket opening or closing may fairly have missed it.
WINDOW_MARGIN_S = 0.5


class PageSocket:
    """The classify page's websocket, as little of RFC 6455 as a listening page needs: the handshake with the
    volunteer's session cookie, unmasked text frames from the server, pongs to its pings."""

    def __init__(self, port: int, path: str, session: str):
        self.port, self.path, self.session = port, path, session

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: http://127.0.0.1:{self.port}\r\nCookie: sessionid={self.session}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout=10)
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 101 " not in status:
            raise ConnectionError(f"websocket refused: {status}")

    async def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body)
        await self.writer.drain()

    async def receive(self) -> dict | None:
        """The next JSON message; None when the server closed the socket."""
        while True:
            head = await self.reader.readexactly(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if head[1] & 0x80 else None
            payload = await self.reader.readexactly(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                await self._frame(0xA, payload)
            elif opcode == 0x1:
                return json.loads(payload)

    def close(self) -> None:
        self.writer.close()


def count_key(message: dict) -> tuple:
    return tuple(message.get(k) for k in ("classifications", "subjects", "retired"))


@dataclass
class Listener:
    """What one socket received, and when it was open."""

    name: str
    received: list[tuple[float, tuple]] = field(default_factory=list)
    windows: list[list[float]] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)


async def page_socket(listener: Listener, port_of, session: str, until: float) -> None:
    """An open classify page on one daphne: reconnects (every 0.5 s) while its daphne is down."""
    while time.monotonic() < until:
        socket = PageSocket(port_of(), f"/ws/campaigns/{SLUG}/", session)
        try:
            await socket.open()
        except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            listener.refusals[type(exc).__name__] += 1
            await asyncio.sleep(0.5)
            continue
        window = [time.monotonic(), until]
        listener.windows.append(window)
        try:
            while True:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    message = await asyncio.wait_for(socket.receive(), timeout=remaining)
                except TimeoutError:
                    break
                if message is None:
                    raise ConnectionError("closed by the server")
                if message.get("type") == "count":
                    listener.received.append((time.monotonic(), count_key(message)))
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            listener.refusals["dropped"] += 1
        finally:
            window[1] = min(window[1], time.monotonic())
            socket.close()


async def layer_listener(campaign_id: int, into: list, until: float) -> None:
    """Every live count the daphnes send to the campaign's group, as the channel layer carries it."""
    from channels.layers import get_channel_layer

    from labeling.live import campaign_group

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(campaign_group(campaign_id), channel)
    while time.monotonic() < until:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
        except TimeoutError:
            continue
        if message.get("type") == "campaign.count":
            into.append((time.monotonic(), count_key(message)))


def events_missed(sent: list[tuple[float, tuple]], listener: Listener) -> int:
    """Counts the layer carried while the socket was open (inside the margins) that the socket never got."""
    expected = Counter(
        key
        for t, key in sent
        if any(start + WINDOW_MARGIN_S < t < end - WINDOW_MARGIN_S for start, end in listener.windows)
    )
    got = Counter(key for _, key in listener.received)
    return sum((expected - got).values())
