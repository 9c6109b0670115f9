"""The server's own names and whom it takes writes from: the screen the ARM edge applies to every request.

A web page that the developer happens to open must not be able to drive the emulator:

- **DNS rebinding**: a page on `evil.example` whose name is re-pointed at 127.0.0.1 reaches the
  server with `Host: evil.example`. Only the server's own names get through (localhost, the
  loopback addresses, the address it was bound to or reached at, and the names it was given);
  everything else is answered 400 `InvalidHost`. Since only checked hosts reach the edge, the
  absolute URLs that it builds from `Host` (Azure-AsyncOperation, nextLink) echo nothing unchecked.
- **Cross-site writes**: a page may send a POST without a preflight if its content type is one of
  the CORS-safelisted ones (`text/plain`, form encodings). A request that carries a foreign
  `Origin` is refused (403 `InvalidOrigin`: the SDKs send no Origin, browsers always send one
  with a write), and the control API (`/azvm/...`) takes JSON bodies only (415
  `UnsupportedMediaType`), so an empty `text/plain` POST to `/azvm/reset` wipes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAME = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")
_PORT = re.compile(r"[0-9]{0,5}")


def parse_host(authority: str) -> str | None:
    """The host of a `Host` (or Origin authority) value, canonical: a lower-case name or a
    compressed IP address (IPv6 without brackets); None when the value is not `host[:port]`."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        literal, rest = authority[1:end], authority[end + 1:]
        if rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:])):
            return None
        try:
            return str(ipaddress.IPv6Address(literal))
        except ValueError:
            return None
    host, sep, port = authority.partition(":")
    if sep and not _PORT.fullmatch(port):
        return None
    if not 0 < len(host) <= 253 or not _NAME.fullmatch(host):
        return None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return host.lower()


def canonical_name(name: str) -> str:
    """A name given by a user (`localhost`, `::1`, `[::1]:8443`, `MyHost`) as `parse_host` gives it."""
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        parsed = parse_host(name)
        if parsed is None:
            raise ValueError(f"{name!r} is not a host name or an IP address") from None
        return parsed


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts are the server's own: localhost and loopback addresses always, plus `names`
    (`*` among them: any host, the check is off)."""

    names: frozenset[str] = frozenset({"localhost"})
    any_host: bool = False

    @classmethod
    def for_server(cls, bind_host: str, allowed: Iterable[str] = ()) -> HostPolicy:
        allowed = list(allowed)
        names = {"localhost"} | {canonical_name(n) for n in allowed if n != "*"}
        if bind_host:  # 0.0.0.0 too: a client that connects to 0.0.0.0 sends it as its Host
            names.add(canonical_name(bind_host))
        return cls(frozenset(names), "*" in allowed)

    def allows(self, authority: str, local_address: str | None = None) -> bool:
        """Whether `authority` (a Host value: `host[:port]`) names this server. `local_address`: the
        address the connection reached (an IP literal naming the very address the client connected
        to is no rebinding)."""
        if self.any_host:
            return True
        host = parse_host(authority)
        if host is None:
            return False
        if host in self.names:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return ip.is_loopback or (local_address is not None and host == _canonical_ip(local_address))


def _canonical_ip(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def media_type(value: str) -> str:
    """The essence of a Content-Type value: `text/plain` of ` Text/Plain ; charset=utf-8`."""
    return value.split(";", 1)[0].strip(" \t").lower()


def is_json(essence: str) -> bool:
    return essence == "application/json" or (essence.startswith("application/") and essence.endswith("+json"))


class Guard:
    """Refuses foreign hosts and origins, and non-JSON writes to the control API (the ARM edge's
    `Screen`, given the headers it has read)."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy
        self._hosts: dict[tuple[bytes, str | None], bool] = {}  # Host values judged once (the policy is fixed)

    def _allows(self, host: bytes, local: str | None) -> bool:
        key = (host, local)
        ok = self._hosts.get(key)
        if ok is None:
            ok = self.policy.allows(host.decode("latin-1"), local)
            if len(self._hosts) >= 1024:
                self._hosts.clear()
            self._hosts[key] = ok
        return ok

    def check(self, method: str, path: str, hosts: list[bytes], origins: list[bytes], content_types: list[bytes],
              has_body: bool, local: str | None) -> tuple[int, str, str] | None:
        """(status, code, message) of the answer that refuses this request, or None to let it through.
        `local`: the address the connection reached."""
        if len(hosts) > 1 or (hosts and not self._allows(hosts[0], local)):
            shown = json.dumps(b", ".join(hosts).decode("latin-1")[:200])
            return (400, "InvalidHost", f"The Host header {shown} does not name this server. It answers localhost,"
                    " its loopback addresses and the address it listens on; start it with --allow-host NAME to add"
                    " a name.")
        if origins and not (len(origins) == 1 and self._own_origin(origins[0].decode("latin-1"), local)):
            return (403, "InvalidOrigin", "Requests from a web page of another origin are refused: the emulator"
                    " takes requests from its own pages and from clients that send no Origin.")
        if method in WRITE_METHODS and (path == "/azvm" or path.startswith("/azvm/")):
            if len(content_types) > 1:
                return (415, "UnsupportedMediaType", "A request may carry one Content-Type header only.")
            if content_types:
                essence = media_type(content_types[0].decode("latin-1"))
                if not is_json(essence):
                    return (415, "UnsupportedMediaType", f"The content media type {json.dumps(essence[:100])} is"
                            " not supported. Only 'application/json' is supported.")
            elif has_body:
                return (415, "UnsupportedMediaType", "A request body needs Content-Type: application/json.")
        return None

    def _own_origin(self, origin: str, local: str | None) -> bool:
        scheme, sep, authority = origin.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or "/" in authority or "@" in authority:
            return False  # "null" (sandboxed pages, file:), or not an origin at all
        return self.policy.allows(authority, local)


__all__ = ["Guard", "HostPolicy", "canonical_name", "parse_host"]
