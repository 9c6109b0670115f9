"""What the audit's tests share: an azvm server whose simulated clock starts at the wall clock's
now (the audit reads the Activity Log over the last 90 days of ARM's clock), a principal signed in
through the environment as DefaultAzureCredential finds it, and ways to run `azvm audit`: in
process (`audit`) or as a user types it (`audit_cli`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from azvm.audit.cli import main
from azvm.clock import US, iso, now_wall_us
from azvm.testing import AzvmServer, azvm_server

TENANT = "00000000-0000-0000-0000-000000000001"  # azvm's tenant
SUB = "00000000-0000-0000-0000-000000000000"
IDENTITY_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                      "AZURE_AUTHORITY_HOST", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
                      "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "IMDS_ENDPOINT",
                      "AZURE_USERNAME", "AZURE_PASSWORD", "HTTPS_PROXY", "https_proxy", "AZVM_AUDIT_ENDPOINT",
                      "AZVM_BILLING_RULES", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def wall_now_iso() -> str:
    """The wall clock's now, to the second: where the simulated clock starts."""
    return iso(now_wall_us() // US * US)


@pytest.fixture(scope="session")
def audit_session() -> Iterator[AzvmServer]:
    with azvm_server(start_time=wall_now_iso()) as server:
        yield server


@pytest.fixture
def azvm_now(audit_session: AzvmServer) -> AzvmServer:
    """A fresh world whose simulated clock starts at the wall clock's now."""
    audit_session.reset(start_time=wall_now_iso())
    return audit_session


def identity_env(client_id: str = "auditor", secret: str = "auditor-secret") -> dict[str, str]:
    """The variables of a service principal, as EnvironmentCredential (first in DefaultAzureCredential) reads them."""
    return {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": client_id, "AZURE_CLIENT_SECRET": secret}


@pytest.fixture(autouse=True)
def signed_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """DefaultAzureCredential finds a service principal in the environment (and no other identity)."""
    for name in IDENTITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in identity_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az"))  # never the user's own Azure CLI login


@dataclass
class Audit:
    code: int
    report: dict[str, Any]

    def vm(self, name: str) -> dict[str, Any]:
        (found,) = [v for v in self.report["vms"] if v["name"] == name]
        return found

    def names(self, **where: Any) -> list[str]:
        return sorted(v["name"] for v in self.report["vms"] if all(v[k] == x for k, x in where.items()))


def endpoint_args(azvm: AzvmServer) -> list[str]:
    return ["--endpoint", azvm.endpoint, "--ca-bundle", str(azvm.cert)]


def audit(azvm: AzvmServer, tmp_path: Path, *args: str) -> Audit:
    """`azvm audit --format json` in this process; amounts read as exact decimals."""
    out = tmp_path / f"audit-{len(list(tmp_path.glob('audit-*.json')))}.json"
    code = main([*endpoint_args(azvm), "--format", "json", "--output", str(out), "--no-progress", *args])
    return Audit(code, json.loads(out.read_text(), parse_float=Decimal))


def audit_cli(*args: str, env: dict[str, str] | None = None, stdin: str = "",
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m azvm audit ARGS` as a user types it (the environment: this process's, plus `env`)."""
    return subprocess.run([sys.executable, "-m", "azvm", "audit", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
