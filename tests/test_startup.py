"""What `azvm serve` does as it starts: the modules it leaves for later (no WebSocket library, and no
cryptography when its certificates are in place), the cyclic collector paused only while it starts,
and an `Upgrade: websocket` request answered over HTTP/1.1 (azvm serves no WebSocket)."""

from __future__ import annotations

import gc
import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

from azvm import cli
from azvm.testing import azvm_server

STARTED = """
import json, sys
from azvm.server import Options, build, uvicorn_config
emu = build(Options(port=0, data_dir=sys.argv[1]))
uvicorn_config(emu).load()
emu.close()
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded_at_start(data_dir: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-c", STARTED, str(data_dir)], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_a_server_starts_without_websockets_and_reuses_its_certificates_without_cryptography(
        tmp_path: Path) -> None:
    first = loaded_at_start(tmp_path / "d")  # makes the authority and the leaf: cryptography
    assert "cryptography" in first and "websockets" not in first and "wsproto" not in first
    again = loaded_at_start(tmp_path / "d")
    assert {"cryptography", "websockets", "wsproto", "jwt"}.isdisjoint(again), again
    assert {"uvicorn", "ssl"} <= again


class Said(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_an_upgrade_request_is_answered_over_http() -> None:
    """RFC 9110 §7.8: a server may ignore Upgrade and answer in the protocol it speaks; no warning that
    a WebSocket library is missing."""
    said = Said()
    with azvm_server(tls=False) as s:
        logging.getLogger("uvicorn.error").addHandler(said)  # uvicorn's own (it does not propagate to the root)
        port = int(s.endpoint.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sk:
            sk.sendall(b"GET /azvm/health HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                       b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       b"Sec-WebSocket-Version: 13\r\n\r\n")
            reader = sk.makefile("rb")
            status = reader.readline()
            headers = {}
            while (line := reader.readline().strip()):
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = reader.read(int(headers["content-length"]))
        logging.getLogger("uvicorn.error").removeHandler(said)
    assert status.startswith(b"HTTP/1.1 200 "), status
    assert json.loads(body)["status"] == "ok"
    assert not said.messages, said.messages


def test_the_collector_is_back_after_a_command(tmp_path: Path) -> None:
    assert gc.isenabled()
    assert cli.main(["states-doc", "-o", str(tmp_path / "states.md")]) == 0
    assert gc.isenabled()
    assert cli.main(["serve", "--data-dir", str(tmp_path / "d"), "--workers", "2", "--in-memory"]) == 2  # refused
    assert gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        assert cli.main(["states-doc", "-o", str(tmp_path / "states.md")]) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
