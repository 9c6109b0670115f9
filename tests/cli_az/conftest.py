"""The real Azure CLI against azvm: an `az` with a profile of its own (AZURE_CONFIG_DIR in the test's
tmp_path), azvm's authority to trust, instance discovery and telemetry off."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer

from ..proxy import test_run_env

live = test_run_env.live  # the fixture: an in-process azvm with its HTTPS proxy, found by `azvm env`

# what could send a test's az elsewhere: a proxy, or the profile, cloud or identity of the caller's shell
LEAKY = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "AZURE_", "ARM_", "IDENTITY_", "MSI_",
         "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(LEAKY)}


@dataclass
class Az:
    """Runs the real `az` (a subprocess) with `env`; every command's exit code, stdout and stderr are kept."""

    exe: Path
    env: dict[str, str]
    ran: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([str(self.exe), *args], env=self.env, capture_output=True, text=True, timeout=180)
        self.ran.append(r)
        assert r.returncode == expect, f"az {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout or "null")


def ca_of(server: AzvmServer) -> Path:
    """azvm's certificate authority (`ca.pem` beside the server's certificate): what clients trust."""
    assert server.cert is not None
    return server.cert.parent / "ca.pem"


def cloud_register(server: AzvmServer) -> list[str]:
    """`az cloud register` for `server` (recipe A of the CLI reference; the README's own words)."""
    return ["cloud", "register", "-n", "azvm", "--endpoint-resource-manager", f"{server.endpoint}/",
            "--endpoint-active-directory", server.endpoint,
            "--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
            "--skip-endpoint-discovery"]


@pytest.fixture
def az_for(az: Path, tmp_path: Path) -> Any:
    """az_for(server): an `Az` for `server`, its profile in tmp_path, not signed in yet."""

    def make(server: AzvmServer, **extra: str) -> Az:
        config = tmp_path / "azure-config"
        config.mkdir(mode=0o700, exist_ok=True)
        env = {**clean_environ(), "AZURE_CONFIG_DIR": str(config), "REQUESTS_CA_BUNDLE": str(ca_of(server)),
               "AZURE_CORE_INSTANCE_DISCOVERY": "false", "AZURE_CORE_COLLECT_TELEMETRY": "false",
               "AZURE_CORE_NO_COLOR": "true", **extra}
        return Az(az, env)

    return make
