"""`azvm run` and `azvm env`: code written for Azure (no endpoint, no certificate setting) reaches azvm
through its HTTPS proxy, and every other host is tunnelled untouched. Loopback only: the Azure hosts
are intercepted by the proxy (a request the proxy did not intercept fails the test), the tunnelled
host is a local HTTPS server on 127.0.0.2."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from azvm.clock import now_wall_us, to_datetime
from azvm.proxy.environment import ServerInfo, write_state
from azvm.proxy.relay import ProxyThread, start_proxy
from azvm.testing import AzvmServer, azvm_server
from azvm.tls import authority_path

# a script written for Azure: a credential, the subscription from the environment, no base_url
SCRIPT = '''
import os
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azvm.testing import StaticTokenCredential as Credential

sub = os.environ["AZURE_SUBSCRIPTION_ID"]
cred = Credential()
resources = ResourceManagementClient(cred, sub)
network = NetworkManagementClient(cred, sub)
compute = ComputeManagementClient(cred, sub)
resources.resource_groups.create_or_update("rg", {"location": "eastus"})
subnet = network.virtual_networks.begin_create_or_update("rg", "vnet", {
    "location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}).result().subnets[0]
nic = network.network_interfaces.begin_create_or_update("rg", "nic", {
    "location": "eastus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": subnet.id}}}]}}).result()
vm = compute.virtual_machines.begin_create_or_update("rg", "vm1", {
    "location": "eastus", "properties": {
        "hardwareProfile": {"vmSize": "Standard_B2s"},
        "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                              "sku": "server", "version": "latest"}},
        "osProfile": {"computerName": "vm1", "adminUsername": "azure", "adminPassword": "Passw0rd!!"},
        "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}}).result()
print("created", vm.provisioning_state)
print("running", compute.virtual_machines.instance_view("rg", "vm1").statuses[1].code)
compute.virtual_machines.begin_deallocate("rg", "vm1").result()
print("after", compute.virtual_machines.instance_view("rg", "vm1").statuses[1].code)
'''


@dataclass
class Live:
    """An azvm server and its proxy in this process, found by `azvm run`/`azvm env` through its data dir."""

    server: AzvmServer
    proxy: ProxyThread
    data_dir: Path

    def azvm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "azvm", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    data = tmp_path / "data"
    with azvm_server(cert_dir=str(data)) as s:
        assert s.cert is not None and s.emulator.key is not None
        port = int(s.endpoint.rsplit(":", 1)[1])
        proxy = start_proxy(s.cert, s.emulator.key, port)
        write_state(data, ServerInfo(s.endpoint, proxy.url, str(authority_path(data)), os.getpid()))
        try:
            yield Live(s, proxy, data)
        finally:
            proxy.stop()



def wall_now() -> dt.datetime:
    return to_datetime(now_wall_us())

def test_a_script_written_for_azure_drives_a_vm_under_azvm_run(live: Live, tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text(SCRIPT)
    r = live.azvm("run", "--data-dir", str(live.data_dir), "--", sys.executable, str(tmp_path / "script.py"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["created Succeeded", "running PowerState/running",
                                     "after PowerState/deallocated"]
    assert live.proxy.proxy.stats.intercepted == {"management.azure.com:443"}
    assert live.proxy.proxy.stats.tunnelled == set()
    # what the script did is in azvm's world
    vm = f"/subscriptions/{live.server.subscription_id}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
    assert live.server.arm("GET", vm)["value"][0]["name"] == "vm1"


def test_azvm_run_returns_the_commands_exit_code(live: Live) -> None:
    r = live.azvm("run", "--data-dir", str(live.data_dir), "--", sys.executable, "-c", "raise SystemExit(7)")
    assert r.returncode == 7
    r = live.azvm("run", "--data-dir", str(live.data_dir), "--", "/nonexistent/program")
    assert r.returncode == 127 and "nonexistent" in r.stderr


def test_azvm_run_without_a_server_starts_one_for_the_command(tmp_path: Path) -> None:
    code = ("import os\nfrom azure.mgmt.resource.resources import ResourceManagementClient\n"
            "from azvm.testing import StaticTokenCredential\n"
            "c = ResourceManagementClient(StaticTokenCredential(), os.environ['AZURE_SUBSCRIPTION_ID'])\n"
            "print(c.resource_groups.create_or_update('rg', {'location': 'eastus'}).id)\nraise SystemExit(3)\n")
    r = subprocess.run([sys.executable, "-m", "azvm", "run", "--data-dir", str(tmp_path / "none"), "--",
                        sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    assert r.stdout.strip() == "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
    assert not (tmp_path / "none").exists()  # a throwaway server leaves nothing behind


def self_signed(host: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not azvm")])
    now = wall_now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "other-cert.pem", directory / "other-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from 127.0.0.2"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_host_azvm_does_not_serve_is_tunnelled_untouched(live: Live, tmp_path: Path) -> None:
    """A local HTTPS server with a certificate of its own, on a loopback address outside NO_PROXY:
    the client reaches it through the proxy (which relays the bytes) and verifies that server's own
    certificate, which it could not if the proxy had answered in its place."""
    cert, key = self_signed("127.0.0.2", tmp_path)
    httpd = ThreadingHTTPServer(("127.0.0.2", 0), Hello)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    code = ("import ssl, sys, urllib.request\n"
            f"ctx = ssl.create_default_context(cafile={str(cert)!r})\n"
            f"print(urllib.request.urlopen('https://127.0.0.2:{port}/', context=ctx, timeout=30).read().decode())\n")
    try:
        r = live.azvm("run", "--data-dir", str(live.data_dir), "--", sys.executable, "-c", code)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello from 127.0.0.2"
    assert live.proxy.proxy.stats.tunnelled == {f"127.0.0.2:{port}"}
    assert live.proxy.proxy.stats.intercepted == set()


def test_eval_azvm_env_then_curl(live: Live) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = (f"eval \"$({sys.executable} -m azvm env --data-dir {live.data_dir})\" && "
              "curl -sS --fail -H 'Authorization: Bearer any' "
              "'https://management.azure.com/subscriptions?api-version=2022-12-01'")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()})
    assert r.returncode == 0, r.stderr
    subs = json.loads(r.stdout)["value"]
    assert subs[0]["subscriptionId"] == "00000000-0000-0000-0000-000000000000"
    assert live.proxy.proxy.stats.intercepted == {"management.azure.com:443"}


def test_azvm_env_prints_each_variable(live: Live) -> None:
    r = live.azvm("env", "--data-dir", str(live.data_dir))
    assert r.returncode == 0, r.stderr
    exported = dict(line[len("export "):].split("=", 1) for line in r.stdout.splitlines() if line.startswith("export"))
    assert exported["HTTPS_PROXY"] == exported["https_proxy"] == live.proxy.url
    assert exported["NO_PROXY"].startswith("localhost,127.0.0.1,::1")
    bundle = Path(exported["SSL_CERT_FILE"])
    assert exported["REQUESTS_CA_BUNDLE"] == exported["CURL_CA_BUNDLE"] == str(bundle)
    text = bundle.read_text()
    assert text.startswith((live.data_dir / "ca.pem").read_text().strip())
    assert text.count("BEGIN CERTIFICATE") > 1  # and the system's authorities
    assert exported["NODE_EXTRA_CA_CERTS"] == str(live.data_dir / "ca.pem")
    assert {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID"} <= set(exported)
    profile = Path(exported["AZURE_CONFIG_DIR"])
    accounts = json.loads((profile / "azureProfile.json").read_text())["subscriptions"]
    assert accounts[0]["user"] == {"name": exported["AZURE_CLIENT_ID"], "type": "servicePrincipal"}
    assert (profile / "service_principal_entries.json").stat().st_mode & 0o077 == 0
    help_text = live.azvm("env", "--help").stdout
    for name in exported:
        assert name in help_text


def test_azvm_env_without_a_server_says_so(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "azvm", "env", "--data-dir", str(tmp_path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("azvm: no running azvm server") and r.stdout == ""


def test_az_group_list_under_azvm_run(live: Live, az: Path) -> None:
    """The real Azure CLI (the `az` fixture: ./scripts/test installs it), unchanged and named by its bare
    name: the profile `azvm run` prepares is signed in to the public cloud, whose hosts the proxy answers."""
    live.server.arm("PUT", f"/subscriptions/{live.server.subscription_id}/resourcegroups/rg-from-sdk",
                    {"location": "eastus"})
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("AZURE_", "IDENTITY_", "ARM_"))}
    env["PATH"] = f"{az.parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run([sys.executable, "-m", "azvm", "run", "--data-dir", str(live.data_dir), "--",
                        "az", "group", "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [g["name"] for g in json.loads(r.stdout)] == ["rg-from-sdk"]
    assert {"login.microsoftonline.com:443", "management.azure.com:443"} <= live.proxy.proxy.stats.intercepted
    assert live.proxy.proxy.stats.tunnelled == set()


def test_default_azure_credential_signs_in_through_the_proxy(live: Live, tmp_path: Path) -> None:
    """No credential of azvm's: DefaultAzureCredential takes the service principal of the environment
    and asks login.microsoftonline.com for a token, which the proxy hands to azvm's token endpoint."""
    pytest.importorskip("azure.identity")
    script = SCRIPT.replace("from azvm.testing import StaticTokenCredential as Credential",
                            "from azure.identity import DefaultAzureCredential as Credential")
    (tmp_path / "script.py").write_text(script)
    r = live.azvm("run", "--data-dir", str(live.data_dir), "--", sys.executable, str(tmp_path / "script.py"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "after PowerState/deallocated"
    assert {"login.microsoftonline.com:443", "management.azure.com:443"} <= live.proxy.proxy.stats.intercepted
