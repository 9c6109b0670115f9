"""The HTTPS proxy: an HTTP CONNECT proxy on loopback that answers Azure's hosts with azvm.

A client configured with `HTTPS_PROXY` asks `CONNECT host:443`. For a host that azvm serves
(`azvm.tls.AZURE_HOSTS`, port 443) the proxy terminates TLS itself, with the leaf that azvm's
authority signed for those names, and relays the decrypted stream to azvm's HTTPS server (the
requests keep `Host: management.azure.com`, so the absolute URLs azvm answers with name Azure's
hosts too and come back through the proxy). Every other host is tunnelled untouched: the bytes are
relayed both ways and the client verifies that host's own certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..tls import authority_path
from .hosts import AZURE_HOSTS

MAX_HEAD = 16 * 1024  # a CONNECT request's line and headers
CHUNK = 64 * 1024
REFUSED_KEPT = 100  # the refused targets ProxyStats remembers (the newest)


@dataclass
class ProxyStats:
    """What the proxy did, for tests and the curious: the hosts (host:port) intercepted and tunnelled,
    each once however often it was asked for, and the last REFUSED_KEPT targets refused (bounded, so
    that a long-running proxy holds no more than it serves)."""

    intercepted: set[str] = field(default_factory=set)
    tunnelled: set[str] = field(default_factory=set)
    refused: deque[str] = field(default_factory=lambda: deque(maxlen=REFUSED_KEPT))


class ConnectProxy:
    """The proxy's protocol on one event loop. `upstream`: azvm's HTTPS server (host, port), whose
    certificate `ca_file` verifies; `cert_file`/`key_file`: the leaf shown for intercepted hosts."""

    def __init__(self, upstream: tuple[str, int], *, cert_file: Path, key_file: Path, ca_file: Path,
                 hosts: Iterable[str]) -> None:
        self.upstream = upstream
        self.hosts = frozenset(h.lower() for h in hosts)
        self.stats = ProxyStats()
        self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_tls.load_cert_chain(str(cert_file), str(key_file))
        self._server_tls.set_alpn_protocols(["http/1.1"])
        self._client_tls = ssl.create_default_context(cafile=str(ca_file))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError, ValueError):
            pass  # a client or server that went away, or spoke nonsense: drop the connection
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
        target = rest.rsplit(" ", 1)[0] if " " in rest else rest
        host, port = _split_target(target)
        if method != "CONNECT" or host is None:
            self.stats.refused.append(target)
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
            return
        where = f"{host}:{port}"
        if host in self.hosts and port == 443:
            self.stats.intercepted.add(where)
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await writer.start_tls(self._server_tls)
            up_host, up_port = self.upstream
            up_r, up_w = await asyncio.open_connection(up_host, up_port, ssl=self._client_tls,
                                                       server_hostname="localhost")  # a SAN of the leaf
        else:
            try:
                up_r, up_w = await asyncio.open_connection(host, port)
            except OSError:
                self.stats.refused.append(where)
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            self.stats.tunnelled.add(where)
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
        try:
            await _relay(reader, writer, up_r, up_w)
        finally:
            up_w.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                await up_w.wait_closed()


def _split_target(target: str) -> tuple[str | None, int]:
    """`host:port` or `[v6]:port` of a CONNECT line (lower case host); (None, 0) when malformed."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        return None, 0
    return host.strip("[]").lower(), int(port)


async def _relay(a_r: asyncio.StreamReader, a_w: asyncio.StreamWriter, b_r: asyncio.StreamReader,
                 b_w: asyncio.StreamWriter) -> None:
    """Copy both ways until either side ends; then both are closed (HTTP over a tunnel ends when
    one side closes)."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while data := await src.read(CHUNK):
                dst.write(data)
                await dst.drain()

    tasks = [asyncio.ensure_future(pump(a_r, b_w)), asyncio.ensure_future(pump(b_r, a_w))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ProxyThread:
    """The proxy on a loopback port, served by an event loop in a daemon thread of its own (so it
    runs beside any server: uvicorn's loop, `--workers` processes, or a test's)."""

    def __init__(self, proxy: ConnectProxy, host: str = "127.0.0.1", port: int = 0) -> None:
        self.proxy = proxy
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._main, name="azvm-proxy", daemon=True)
        self._ready = threading.Event()
        self._error: OSError | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ProxyThread:
        """Bind (OSError when the port is taken) and serve; returns once the port is listening."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self.proxy.handle, self.host, self.port, limit=MAX_HEAD))
        except OSError as e:
            self._error = e
            self._ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        """Stops listening and drops the connections in flight; returns within a few seconds."""
        server, self._server = self._server, None
        if server is None or not self._thread.is_alive():
            return

        async def close() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            # let each connection's handler run its `finally` (closing both sides) before the loop
            # stops: a transport left open would be reported unclosed when it is collected
            await asyncio.wait(tasks, timeout=2) if tasks else None
            await asyncio.sleep(0)  # the closes just requested are carried out on this turn

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def start_proxy(cert: Path, key: Path, upstream_port: int, *, upstream_host: str = "127.0.0.1",
                port: int = 0) -> ProxyThread:
    """A proxy on 127.0.0.1:`port` (0: a free one) in front of the azvm server at
    upstream_host:upstream_port whose leaf is `cert`/`key` (the authority beside them verifies it)."""
    host = "127.0.0.1" if upstream_host in ("", "0.0.0.0", "::") else upstream_host
    proxy = ConnectProxy((host, upstream_port), cert_file=cert, key_file=key, ca_file=authority_path(cert.parent),
                         hosts=AZURE_HOSTS)
    return ProxyThread(proxy, port=port).start()
