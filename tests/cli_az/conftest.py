"""The real Azure CLI against azvm: an `az` with a profile of its own (AZURE_CONFIG_DIR in the test's
tmp_path), azvm's authority to trust, instance discovery and telemetry off."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from azvm.testing import AzvmServer, azvm_server

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
    took: list[float] = field(default_factory=list)  # each command's real time (seconds), in the order run

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        r = subprocess.run([str(self.exe), *args], env=self.env, capture_output=True, text=True, timeout=180)
        self.took.append(time.monotonic() - start)
        self.ran.append(r)
        assert r.returncode == expect, f"az {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout or "null")


def ca_of(server: AzvmServer) -> Path:
    """azvm's certificate authority (`ca.pem` beside the server's certificate): what clients trust."""
    assert server.cert is not None
    return server.cert.parent / "ca.pem"


def cloud_register(server: AzvmServer, *more: str) -> list[str]:
    """`az cloud register` for `server` (recipe A of the CLI reference; the README's own words), and `more`
    options (e.g. `--endpoint-vm-image-alias-doc URL`)."""
    return ["cloud", "register", "-n", "azvm", "--endpoint-resource-manager", f"{server.endpoint}/",
            "--endpoint-active-directory", server.endpoint,
            "--endpoint-active-directory-resource-id", "https://management.core.windows.net/",
            "--skip-endpoint-discovery", *more]


def az_env(server: AzvmServer, config: Path, **extra: str) -> dict[str, str]:
    """The environment of an `az` for `server` with its profile in `config` (made owner-only)."""
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {**clean_environ(), "AZURE_CONFIG_DIR": str(config), "REQUESTS_CA_BUNDLE": str(ca_of(server)),
            "AZURE_CORE_INSTANCE_DISCOVERY": "false", "AZURE_CORE_COLLECT_TELEMETRY": "false",
            "AZURE_CORE_NO_COLOR": "true", **extra}


TENANT = "00000000-0000-0000-0000-000000000001"


def sign_in(az: Az, server: AzvmServer, *register: str) -> Az:
    """Registers `server` as the cloud `azvm` (with `register`'s extra options), selects it and signs in
    with a service principal (any id and secret: azvm's open mode)."""
    az.run(*cloud_register(server, *register))
    az.run("cloud", "set", "-n", "azvm")
    az.run("login", "--service-principal", "-u", "any-app", "-p", "any-secret", "--tenant", TENANT)
    return az


# where azvm serves the Azure CLI's image-alias document (azvm.providers.cli_documents)
ALIAS_DOC = "/metadata/cli/vm/aliases.json"


def module_profile(az: Path, server: AzvmServer, tmp_path_factory: pytest.TempPathFactory, **extra: str) -> Az:
    """A profile signed in to `server`, its image aliases read from azvm, for a module's tests to share
    (az takes 1-2 s a command: one sign-in serves them all); `extra` goes into its environment."""
    env = az_env(server, tmp_path_factory.mktemp("az") / "config", **extra)
    return sign_in(Az(az, env), server, "--endpoint-vm-image-alias-doc", f"{server.endpoint}{ALIAS_DOC}")


@pytest.fixture(scope="module")
def module_server() -> Iterator[AzvmServer]:
    """One azvm server for a module's tests (each works in a resource group of its own)."""
    with azvm_server() as s:
        yield s


@pytest.fixture
def az_for(az: Path, tmp_path: Path) -> Any:
    """az_for(server): an `Az` for `server`, its profile in tmp_path, not signed in yet."""

    def make(server: AzvmServer, **extra: str) -> Az:
        return Az(az, az_env(server, tmp_path / "azure-config", **extra))

    return make
