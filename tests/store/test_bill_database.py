"""`azvm bill --database URL`: the bill of a PostgreSQL store, and its refusals in one line (exit 2)
for a database that holds no azvm store (left as it was: no schema made in it), one that cannot be
reached, and a URL that is not one. What it bills is checked against the bill served under load in
tests/load/test_load.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.pg import PgServer
from tests.test_cli_errors import assert_refused

from azvm import cli
from azvm.domain.history import Operation, Phase
from azvm.domain.states import PowerState, Prov
from azvm.service.ports import VmRow
from azvm.store.postgres import PostgresStore
from azvm.store.sqlite import SqliteStore

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
VM_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
MODEL: dict[str, Any] = {"id": VM_ID, "location": "eastus",
                         "properties": {"hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                                        "storageProfile": {"osDisk": {"osType": "Linux"}}}}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AZVM_"):
            monkeypatch.delenv(name)


def one_running_vm(store: PostgresStore | SqliteStore) -> None:
    """A VM created at START, running from START + 1 min until now."""
    op = Operation("op-1", "create", START, (Phase(START, Prov.CREATING, PowerState.STARTING),
                                             Phase(START + 60_000_000, Prov.SUCCEEDED, PowerState.RUNNING)),
                   True, MODEL, None, False, None)
    store.append(VmRow(VM_ID.lower(), "s", "rg", "vm1", "eastus", 1, MODEL, op, None), op,
                 expected_version=0, id_counter=None)
    store.commit()


def test_bill_of_a_postgresql_store(pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = PostgresStore(pg_url)
    try:
        one_running_vm(store)
    finally:
        store.close()
    to = "2026-01-01T10:01:00Z"
    assert cli.main(["bill", "--database", pg_url, "--to", to, "--format", "json"]) == 0
    from_db = json.loads(capsys.readouterr().out)
    assert [(x["kind"], x["billedSeconds"]) for x in from_db["lines"]] == [("vm", 10 * 3600)], from_db
    # the same history in SQLite bills the same
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store2 = SqliteStore(data_dir / "azvm.sqlite3")
    try:
        one_running_vm(store2)
    finally:
        store2.close()
    assert cli.main(["bill", "--data-dir", str(data_dir), "--to", to, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == from_db


def test_a_database_without_a_store_is_refused_and_left_as_it_was(pg_server: PgServer,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_server.fresh_database(empty=True)
    try:
        rc = cli.main(["bill", "--database", url])
        assert_refused(rc, capsys.readouterr().err, "--database", "holds no azvm store")
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT count(*) FROM information_schema.tables"
                                  " WHERE table_schema = 'public'").fetchone()
        assert tables == (0,)
    finally:
        pg_server.drop_database(url)


def test_an_unreachable_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://azvm:secret@127.0.0.1:1/nowhere"
    rc = cli.main(["bill", "--database", url])
    err = capsys.readouterr().err
    assert_refused(rc, err, "--database", "cannot be reached")
    assert "secret" not in err  # the password is never printed


def test_not_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["bill", "--database", "mysql://x"])
    assert_refused(rc, capsys.readouterr().err, "--database", "postgresql://")


def test_data_dir_given_overrides_the_database_of_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AZVM_DATABASE", "postgresql://127.0.0.1:1/nowhere")
    store = SqliteStore(tmp_path / "azvm.sqlite3")
    try:
        one_running_vm(store)
    finally:
        store.close()
    assert cli.main(["bill", "--data-dir", str(tmp_path), "--to", "2026-01-01T02:01:00Z", "--format", "json"]) == 0
    lines = json.loads(capsys.readouterr().out)["lines"]
    assert [(x["kind"], x["billedSeconds"]) for x in lines] == [("vm", 2 * 3600)]
