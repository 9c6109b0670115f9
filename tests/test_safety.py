"""Safe by default on a developer's machine: only the server's own names in `Host` (no DNS
rebinding), no writes from a foreign `Origin`, JSON only for the control API's writes (no
cross-site form or text/plain POST wipes the store), and files readable by their owner only."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azvm.guard import HostPolicy
from azvm.testing import AzvmServer, azvm_server
from tests.conftest import AUTH_HEADERS, SUB, http_client

API = "api-version=2026-04-01"
ALLOWED = "azvm.test"  # given as Options.allowed_hosts (the --allow-host flag)
JSON = [(b"content-type", b"application/json")]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_names = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[AzvmServer]:
    with azvm_server(tls=False, allowed_hosts=[ALLOWED]) as s:
        yield s


@pytest.fixture
def world(server: AzvmServer) -> AzvmServer:
    """A fresh world holding one resource group, "keep": every refusal below must leave it there."""
    server.reset()
    r = request(server, "PUT", f"/subscriptions/{SUB}/resourcegroups/keep?{API}", body={"location": "eastus"})
    assert r.status == 201, r.body
    return server


class Answer:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def error_code(self) -> str:
        return str(json.loads(self.body)["error"]["code"])


def port_of(server: AzvmServer) -> int:
    return int(server.endpoint.rsplit(":", 1)[1])


def request(server: AzvmServer, method: str, path: str, *, host: bytes | None = None, body: Any = None,
            headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    """One request over a raw socket: any bytes in any header, exactly as given (no client checks)."""
    if host is None:
        host = f"127.0.0.1:{port_of(server)}".encode()
    data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    if headers is None:
        headers = JSON if body is not None else []
    lines = [f"{method} {path} HTTP/1.1".encode(), b"host: " + host, b"connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in AUTH_HEADERS.items()]  # ARM requests need a token
    lines += [k + b": " + v for k, v in headers]
    if data or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(data)}".encode())
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return Answer(resp.status, resp.getheaders(), resp.read())


def group_exists(server: AzvmServer, name: str) -> bool:
    r = request(server, "GET", f"/subscriptions/{SUB}/resourcegroups/{name}?{API}")
    assert r.status in (200, 404), r.body
    return r.status == 200


# -- Host ---------------------------------------------------------------------------------------------

def with_port(host: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(host, st.none() | st.integers(0, 65535)).map(lambda t: t[0] if t[1] is None else f"{t[0]}:{t[1]}")


def any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda ups: "".join(c.upper() if u else c for c, u in zip(word, ups, strict=True)))


OWN_HOSTS = with_port(st.one_of(
    any_case("localhost"), any_case(ALLOWED), st.just("[::1]"), st.just("[0:0::1]"),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)).map(lambda t: "127.{}.{}.{}".format(*t))))
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)
FOREIGN_NAMES = st.lists(LABEL, min_size=1, max_size=4).map(".".join).filter(lambda n: n not in ("localhost", ALLOWED))
FOREIGN_IPS = st.one_of(
    st.ip_addresses(v=4).filter(lambda ip: not ip.is_loopback).map(str),
    st.ip_addresses(v=6).filter(lambda ip: not ip.is_loopback).map(lambda ip: f"[{ip}]"))
# what a rebinding page or a careless client may put there: other names, lookalikes of ours, junk
LOOKALIKES = st.sampled_from(["localhost.", "localhost.evil.example", "evil.localhost", "127.0.0.1.nip.io",
                              "0x7f.0.0.1", "2130706433", "127.1", "0177.0.0.1", "[::1", "::1", "[::ffff:7f00:1]",
                              f"{ALLOWED}.evil.example", f"x{ALLOWED}", "localhost:80:80", "localhost:abc",
                              "local host", "user@localhost", "localhost/x", ""])
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60).filter(
    lambda t: not any(own in t.lower() for own in ("localhost", "127.", "::1", ALLOWED, "0:0:")))
FOREIGN_HOSTS = st.one_of(with_port(FOREIGN_NAMES), with_port(FOREIGN_IPS), LOOKALIKES, PRINTABLE)


@SETTINGS
@given(host=OWN_HOSTS)
def test_own_names_are_answered_with_any_port(world: AzvmServer, host: str) -> None:
    r = request(world, "GET", f"/subscriptions/{SUB}/resourcegroups/keep?{API}", host=host.encode())
    assert r.status == 200, (host, r.body)
    assert json.loads(r.body)["name"] == "keep"


@SETTINGS
@given(host=FOREIGN_HOSTS)
def test_a_foreign_host_is_refused_and_nothing_is_written(world: AzvmServer, host: str) -> None:
    name = f"g{next(_names)}"
    r = request(world, "PUT", f"/subscriptions/{SUB}/resourcegroups/{name}?{API}", host=host.encode("latin-1"),
                body={"location": "eastus"})
    assert r.status == 400, (host, r.status, r.body)
    assert r.error_code() == "InvalidHost"
    if len(host) >= 4:  # no header ever echoes an unchecked Host
        assert not any(host.lower() in v.lower() for _, v in r.headers), r.headers
    assert not group_exists(world, name)
    r = request(world, "POST", "/azvm/reset", host=host.encode("latin-1"), body={})
    assert r.status == 400 and r.error_code() == "InvalidHost"
    assert group_exists(world, "keep")


def test_two_host_headers_are_refused(world: AzvmServer) -> None:
    r = request(world, "POST", "/azvm/reset", host=b"localhost", body={},
                headers=[*JSON, (b"host", b"evil.example")])
    assert r.status == 400 and r.error_code() == "InvalidHost"
    assert group_exists(world, "keep")


def test_operation_urls_name_the_host_the_client_used(world: AzvmServer) -> None:
    r = request(world, "DELETE", f"/subscriptions/{SUB}/resourcegroups/keep?{API}", host=b"AZVM.test:8443")
    assert r.status == 202, r.body
    assert {k.lower(): v for k, v in r.headers}["location"].startswith("http://AZVM.test:8443/")


def test_the_address_a_server_is_bound_to_is_one_of_its_names() -> None:
    for bound, host in [("0.0.0.0", "0.0.0.0"), ("192.0.2.7", "192.0.2.7"), ("2001:db8::7", "[2001:db8::7]"),
                        ("azvm.lan", "AZVM.lan:8443")]:
        policy = HostPolicy.for_server(bound)
        assert policy.allows(host) and policy.allows("localhost") and not policy.allows("evil.example")
    # when bound to every interface, an address the client reached it at is one of its names too
    assert HostPolicy.for_server("0.0.0.0").allows("192.0.2.7", local_address="192.0.2.7")
    assert not HostPolicy.for_server("0.0.0.0").allows("192.0.2.8", local_address="192.0.2.7")


# -- Origin ---------------------------------------------------------------------------------------

FOREIGN_ORIGINS = st.one_of(
    st.just("null"),
    st.tuples(st.sampled_from(["http", "https"]), with_port(st.one_of(FOREIGN_NAMES, FOREIGN_IPS))).map("://".join),
    st.sampled_from(["http://localhost.evil.example", "http://evil.example#localhost", "file://",
                     "http://localhost@evil.example", "chrome-extension://abc", "http://127.0.0.1/x"]),
    PRINTABLE)


@SETTINGS
@given(origin=FOREIGN_ORIGINS)
def test_a_write_from_a_foreign_origin_is_refused(world: AzvmServer, origin: str) -> None:
    r = request(world, "POST", "/azvm/reset", body={}, headers=[*JSON, (b"origin", origin.encode())])
    assert r.status == 403, (origin, r.body)
    assert r.error_code() == "InvalidOrigin"
    name = f"g{next(_names)}"
    r = request(world, "PUT", f"/subscriptions/{SUB}/resourcegroups/{name}?{API}", body={"location": "eastus"},
                headers=[*JSON, (b"origin", origin.encode())])
    assert r.status == 403, (origin, r.body)
    assert group_exists(world, "keep") and not group_exists(world, name)


def test_a_write_from_the_servers_own_page_is_answered(world: AzvmServer) -> None:
    origin = f"http://localhost:{port_of(world)}".encode()
    r = request(world, "POST", "/azvm/clock", body={"advanceSeconds": 60}, headers=[*JSON, (b"origin", origin)])
    assert r.status == 200 and json.loads(r.body)["now"] == "2026-01-01T00:01:00.0000000+00:00"


# -- content types of the control API's writes -----------------------------------------------------

SIMPLE_TYPES = st.tuples(
    st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]).flatmap(
        lambda t: any_case(t)),
    st.sampled_from(["", ";charset=UTF-8", "; boundary=x", " ;", "\t"]),
    st.sampled_from(["", " ", "\t"])).map(lambda t: t[2] + t[0] + t[1])
OTHER_TYPES = st.from_regex(r"[a-z]{1,10}/[a-z.+-]{1,20}", fullmatch=True).filter(
    lambda t: t != "application/json" and not t.endswith("+json"))


@SETTINGS
@given(content_type=st.one_of(SIMPLE_TYPES, OTHER_TYPES), body=st.sampled_from([b"", b"{}", b"a=1"]))
def test_a_control_write_that_is_not_json_is_refused(world: AzvmServer, content_type: str, body: bytes) -> None:
    for path in ("/azvm/reset", "/azvm/faults", "/azvm/clock"):
        r = request(world, "POST", path, body=body, headers=[(b"content-type", content_type.encode())])
        assert r.status == 415, (path, content_type, r.body)
        assert r.error_code() == "UnsupportedMediaType"
    r = request(world, "DELETE", "/azvm/faults", body=body, headers=[(b"content-type", content_type.encode())])
    assert r.status == 415
    assert group_exists(world, "keep")
    assert world.now() == "2026-01-01T00:00:00.0000000+00:00"


def test_an_empty_text_plain_reset_wipes_nothing(world: AzvmServer) -> None:
    r = request(world, "POST", "/azvm/reset", body=b"", headers=[(b"content-type", b"text/plain")])
    assert r.status == 415 and r.error_code() == "UnsupportedMediaType"
    assert group_exists(world, "keep")


def test_a_control_body_without_a_content_type_is_refused(world: AzvmServer) -> None:
    r = request(world, "POST", "/azvm/clock", body=b'{"advanceSeconds": 60}', headers=[])
    assert r.status == 415
    assert world.now() == "2026-01-01T00:00:00.0000000+00:00"


@pytest.mark.parametrize("content_type", [b"application/json", b"Application/JSON; charset=utf-8",
                                          b"application/merge-patch+json"])
def test_json_control_writes_are_answered(world: AzvmServer, content_type: bytes) -> None:
    r = request(world, "POST", "/azvm/clock", body={"advanceSeconds": 60}, headers=[(b"content-type", content_type)])
    assert r.status == 200, r.body
    assert world.now() == "2026-01-01T00:01:00.0000000+00:00"


def test_a_reset_without_a_body_still_needs_no_content_type(world: AzvmServer) -> None:
    r = request(world, "POST", "/azvm/reset", headers=[])
    assert r.status == 200, r.body
    assert not group_exists(world, "keep")


# -- files --------------------------------------------------------------------------------------------

def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    """The mode of each file in a directory, as they stand: a file gone between the listing and its
    stat is left out (server.json is written in a thread of its own as the server starts, through a
    temporary file renamed into place)."""
    found = {}
    for p in directory.iterdir():
        with contextlib.suppress(FileNotFoundError):
            found[p.name] = mode(p)
    return found


def serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "azvm", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"(https?://127\.0\.0\.1:\d+) ready", line)
    assert m, f"server did not start: {line!r}"
    return proc, m.group(1)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


PUBLIC = ("cert.pem", "ca.pem")  # certificates; everything else in a data directory is its owner's only


def test_the_store_and_the_key_are_their_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "new" / "azvm"
    proc, base = serve("--data-dir", str(data))
    try:
        with http_client(verify=ssl.create_default_context(cafile=str(data / "cert.pem")), timeout=10) as c:
            assert c.put(f"{base}/subscriptions/{SUB}/resourcegroups/rg?{API}",
                         json={"location": "eastus"}).status_code == 201
        assert mode(data) == 0o700
        files = modes(data)
        assert {"azvm.sqlite3", "azvm.sqlite3-wal", "key.pem", "cert.pem", "ca.pem", "ca-key.pem"} <= set(files)
        assert all(m & 0o077 == 0 for name, m in files.items() if name not in PUBLIC), files
    finally:
        stop(proc)
    # an older azvm left them readable by others: the next start takes that back
    for p in data.iterdir():
        p.chmod(0o644)
    proc, _ = serve("--data-dir", str(data))
    stop(proc)
    files = modes(data)
    assert all(m & 0o077 == 0 for name, m in files.items() if name not in PUBLIC), files


def test_in_memory_keeps_only_the_certificate_and_its_key(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    proc, _ = serve("--in-memory", "--no-tls", env=env)
    stop(proc)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # without TLS: nothing at all
    proc, _ = serve("--in-memory", env=env)
    stop(proc)
    kept = {p.name: mode(p) for p in (tmp_path / "xdg").rglob("*") if p.is_file()}
    assert set(kept) == {"cert.pem", "key.pem", "ca.pem", "ca-key.pem"}, kept
    assert kept["key.pem"] == kept["ca-key.pem"] == 0o600
