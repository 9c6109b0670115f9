"""The README stays true: its pytest example runs as written, through the installed plugin, and its
quick start names commands that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_pytest_example_runs_as_written(tmp_path: Path) -> None:
    example = next(b for b in python_blocks() if "def test_" in b and "azvm" in b)
    # the reader's "code under test": a job that deallocates every running VM
    job = '''
def my_shutdown_job(compute):
    for vm in compute.virtual_machines.list_all():
        rg = vm.id.split("/")[4]
        compute.virtual_machines.begin_deallocate(rg, vm.name).result()
'''
    (tmp_path / "test_example.py").write_text(job + "\n" + example, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout


def test_the_quick_start_commands_exist() -> None:
    blocks = re.findall(r"```\n(.*?)```", README, re.S)
    assert "pip install . && azvm serve" in blocks[0]
    assert blocks[1].strip() == "./scripts/test"
    assert (ROOT / "scripts" / "test").stat().st_mode & 0o111
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_the_sdk_example_runs_as_written() -> None:
    """The "Point the Azure SDK at it" block, against a real server, with its endpoint and certificate."""
    from azvm.testing import azvm_server

    block = next(b for b in python_blocks() if "NetworkManagementClient(" in b)
    with azvm_server() as s:
        code = block.replace('"https://127.0.0.1:8443"', repr(s.endpoint)).replace(
            '"/path/printed/by/azvm/cert.pem"', repr(str(s.cert)))
        scope: dict[str, object] = {}
        exec(compile(code, "README-sdk-example", "exec"), scope)  # the README's own example
        compute = scope["compute"]
        view = compute.virtual_machines.instance_view("rg", "vm1")  # type: ignore[attr-defined]
        assert view.statuses[1].code == "PowerState/deallocated"
        nic = scope["network"].network_interfaces.get("rg", "nic")  # type: ignore[attr-defined]
        assert nic.virtual_machine.id.lower().endswith("/virtualmachines/vm1")


def test_the_sign_in_example_runs_as_written() -> None:
    """The README's azure-identity block, after the SDK block's setup, against a real server."""
    from azvm.testing import azvm_server

    sdk = next(b for b in python_blocks() if "NetworkManagementClient(" in b)
    setup = sdk[:sdk.index("resources.resource_groups")]  # imports, subscription and endpoint settings
    sign_in = next(b for b in python_blocks() if "ClientSecretCredential(" in b)
    with azvm_server() as s:
        ca = str(s.cert.parent / "ca.pem") if s.cert else ""
        code = (setup + sign_in).replace('"https://127.0.0.1:8443"', repr(s.endpoint)).replace(
            '"/path/printed/by/azvm/cert.pem"', repr(ca)).replace('"/path/printed/by/azvm/ca.pem"', repr(ca))
        scope: dict[str, object] = {}
        exec(compile(code, "README-sign-in-example", "exec"), scope)  # the README's own example
        token = scope["credential"].get_token("https://management.azure.com/.default")  # type: ignore[attr-defined]
        assert token.token.count(".") == 2  # a JWT that azvm signed
        assert list(scope["compute"].virtual_machines.list_all()) == []  # type: ignore[attr-defined]
