"""The pytest fixture's one-line helpers make what a management script makes, through the real API."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
from typing import Any

import pytest

from azvm.testing import AzvmServer, azvm_server


def test_create_vm_makes_the_group_network_nic_and_vm(azvm: AzvmServer) -> None:
    vm = azvm.create_vm("web", resource_group="app", public_ip=True, data_disks=2, tags={"env": "test"})
    assert vm["properties"]["provisioningState"] == "Succeeded" and vm["tags"] == {"env": "test"}
    network, compute = azvm.network_client(), azvm.compute_client()
    nic = network.network_interfaces.get("app", "web-nic")
    assert nic.virtual_machine.id.lower() == vm["id"].lower()
    assert nic.ip_configurations[0].private_ip_address.startswith("10.0.0.")
    ip = network.public_ip_addresses.get("app", "web-ip")
    assert ip.ip_address and ip.sku.name == "Standard"
    view = compute.virtual_machines.instance_view("app", "web")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    disks = {d.name: d for d in compute.disks.list_by_resource_group("app")}
    assert len(disks) == 3 and all(d.managed_by.lower() == vm["id"].lower() for d in disks.values())


def test_create_vm_reuses_the_network_and_knows_windows(azvm: AzvmServer) -> None:
    azvm.create_vm("a")
    vm = azvm.create_vm("b", image="windows")
    assert vm["properties"]["storageProfile"]["osDisk"]["osType"] == "Windows"
    network = azvm.network_client()
    assert [v.name for v in network.virtual_networks.list("rg")] == ["rg-vnet"]
    addresses = sorted(n.ip_configurations[0].private_ip_address for n in network.network_interfaces.list("rg"))
    assert addresses == ["10.0.0.4", "10.0.0.5"]  # the first free after Azure's reserved addresses


def session_of(client: Any) -> Any:
    return client._client._pipeline._transport.session


def test_the_clients_of_a_thread_share_one_session_that_outlives_them(azvm: AzvmServer) -> None:
    """Each test's clients send over the connections the previous test's opened (no new handshake);
    closing one client leaves them to the others; a client given its own settings keeps its own."""
    compute, network = azvm.compute_client(), azvm.network_client()
    assert session_of(compute) is session_of(network) is session_of(azvm.resource_client())
    with azvm.compute_client() as closed:
        assert list(closed.virtual_machines.list_all()) == []
    assert list(compute.virtual_machines.list_all()) == []  # the shared session is still open
    own = azvm.compute_client(connection_timeout=30)
    assert session_of(own) is not session_of(compute)
    assert list(own.virtual_machines.list_all()) == []
    own.close()
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.append(session_of(azvm.compute_client())))
    worker.start()
    worker.join()
    assert seen[0] is not session_of(compute)  # another thread, another session


class _ClosingServer(threading.Thread):
    """An HTTP server that answers each request and then closes the connection without saying so (as a
    server does with an idle keep-alive connection), or, with `answer=False`, closes it unanswered."""

    def __init__(self, answer: bool = True) -> None:
        super().__init__(daemon=True)
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.recv(65536)
                if self.answer:
                    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")


def test_a_connection_the_server_closed_is_opened_again() -> None:
    server = _ClosingServer()
    server.start()
    try:
        azvm = AzvmServer(f"http://127.0.0.1:{server.port}", None, emulator=None)  # type: ignore[arg-type]
        assert [azvm.arm("GET", "/subscriptions") for _ in range(3)] == [{}, {}, {}]
        assert server.accepted == 3
        azvm.close()
    finally:
        server.sock.close()


def test_a_server_that_answers_nothing_is_an_error() -> None:
    server = _ClosingServer(answer=False)
    server.start()
    try:
        azvm = AzvmServer(f"http://127.0.0.1:{server.port}", None, emulator=None)  # type: ignore[arg-type]
        with pytest.raises(urllib.error.URLError):
            azvm.arm("GET", "/subscriptions")
        azvm.close()
    finally:
        server.sock.close()


def test_an_error_status_is_urllibs_http_error(azvm: AzvmServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        azvm.arm("GET", f"/subscriptions/{azvm.subscription_id}/resourcegroups/missing")
    assert e.value.code == 404
    assert json.loads(e.value.read())["error"]["code"] == "ResourceGroupNotFound"
    assert azvm.arm("PUT", f"/subscriptions/{azvm.subscription_id}/resourcegroups/rg", {"location": "eastus"})


def test_leaving_the_server_closes_what_its_helpers_kept_open() -> None:
    with azvm_server() as s:
        list(s.compute_client().virtual_machines.list_all())
        s.reset()
        assert s._opened
    assert not s._opened
