"""`azvm bill`: what every VM cost, by state, for any window, from the store or an imported timeline.

Also the flag converters that need the billing package (`rules_arg`, `load_rules_arg`,
`load_prices_arg`); what every subcommand shares is in `azvm.cli_args`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import billing as b
from .cli_args import (
    Parser,
    UsageError,
    arg_type,
    database_url,
    env_default,
    iso_time,
    output_file,
    prices_arg,
    regular_file,
    shown_url,
    user_file,
    write_output,
)
from .clock import Clock, ClockState, iso, now_wall_us
from .domain.resource_id import ResourceId


def _rules_name_or_file(text: str) -> str:
    return text if text in b.BUILTIN_RULE_SETS else regular_file(text)


readable_file = arg_type("a CSV or JSON timeline file", regular_file)
rules_arg = arg_type(f"a rule set ({', '.join(b.BUILTIN_RULE_SETS)}) or a JSON file of one", _rules_name_or_file)


def load_rules_arg(flag: str, value: str | None) -> b.RuleSet:
    from .service.billing import resolve_rules

    if value is None or value in b.BUILTIN_RULE_SETS:
        return resolve_rules(value)
    with user_file(flag, value, keep=(b.HistoryError,)):
        return resolve_rules(value)


def load_prices_arg(flag: str, value: str | None) -> b.PriceSheet:
    from .service.billing import resolve_prices

    if value is None:
        return resolve_prices(None)
    with user_file(flag, value, keep=(b.HistoryError,)):
        return resolve_prices(value)


def add_bill_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "bill", help="bill VMs over a window (table, CSV or JSON), explain a charge, or show the what-if",
        description="Bill every VM's history. The history comes from azvm's store (--data-dir, default: the"
                    " per-user data directory; or --database, the PostgreSQL database of `azvm serve --database`)"
                    " or from an imported timeline (--history FILE: CSV or JSON rows of vm_id, size, region, os,"
                    " time, power_state).")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="azvm's data directory (default: $AZVM_DATA_DIR, else the per-user one)")
    src.add_argument("--database", metavar="URL", type=database_url, default=env_default("AZVM_DATABASE"),
                     help="the postgresql:// database of `azvm serve --database` (default: $AZVM_DATABASE;"
                          " --data-dir overrides it)")
    src.add_argument("--history", type=readable_file, help="a CSV or JSON timeline to bill instead of azvm's store")
    p.add_argument("--from", dest="start", type=iso_time,
                   help="window start, ISO 8601 with a zone (default: the first change)")
    p.add_argument("--to", dest="end", type=iso_time,
                   help="window end (default: the store's simulated now, or the last change)")
    p.add_argument("--group-by", choices=list(b.GROUP_BY), default="vm")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="csv: the daily cost-details export (Azure's column names)")
    p.add_argument("--rules", type=rules_arg, default=env_default("AZVM_BILLING_RULES"),
                   help=f"rule set: {', '.join(b.BUILTIN_RULE_SETS)} (default {b.DEFAULT_RULE_SET}) or a JSON file")
    p.add_argument("--prices", type=prices_arg, default=env_default("AZVM_PRICES"),
                   help="a Retail Prices API JSON file (default: the sample sheet shipped with azvm)")
    p.add_argument("--explain", metavar="VM_ID", help="every interval behind one VM's charge")
    p.add_argument("--what-if", action="store_true",
                   help="the saving had every Stopped (allocated) VM been deallocated instead")
    p.add_argument("--output", "-o", type=output_file, help="write to a file instead of standard output")
    p.set_defaults(handler=run_bill)


def _load(args: argparse.Namespace, progress: Any) -> tuple[Any, int]:
    from .service.billing import timeline_from_file

    if args.history:
        task = progress.add_task(f"reading {args.history}", total=None)
        with user_file("--history", args.history, keep=(b.HistoryError,)):
            tl = timeline_from_file(args.history)
        progress.update(task, completed=1, total=1)
        last = max((r[1] for r in tl.rows), default=now_wall_us())
        return tl, last
    if args.database and not args.data_dir:
        stored, saved = _read_database(args.database, args.format == "csv", progress)
    else:
        stored, saved = _read_data_dir(args.data_dir or os.environ.get("AZVM_DATA_DIR") or None,
                                       args.format == "csv", progress)
    now = now_wall_us()
    tl = stored
    if saved:
        a, w, sp, k = saved.split(",")
        now = Clock(ClockState(int(a), int(w), float(sp), k == "1")).now_us()
    return tl, now


def _read_store(store: Any, tags: bool) -> tuple[Any, str | None]:
    """(timeline, the stored clock) of a store, closed afterwards."""
    from .service.billing import timeline_from_store

    try:
        return timeline_from_store(store, tags=tags), store.get_meta("clock")
    finally:
        store.close()


def _read_data_dir(data_dir_arg: str | None, tags: bool, progress: Any) -> tuple[Any, str | None]:
    """(timeline, the stored clock) from the SQLite store of a data directory."""
    import sqlite3

    from .server import default_data_dir
    from .store import SqliteStore

    data_dir = Path(data_dir_arg) if data_dir_arg else default_data_dir()
    db = data_dir / "azvm.sqlite3"
    if not db.is_file():
        raise UsageError(f"argument --data-dir: no store at {str(db)!r}: expected the data directory of an"
                         f" `azvm serve` (run `azvm serve --data-dir {data_dir}` first), or give --history FILE")
    task = progress.add_task(f"reading {db}", total=None)
    try:
        stored, saved = _read_store(SqliteStore(db), tags)
    except sqlite3.DatabaseError as e:
        raise UsageError(f"argument --data-dir: {str(db)!r}: {e}: expected the store of an `azvm serve`") from None
    progress.update(task, completed=1, total=1)
    return stored, saved


def _read_database(url: str, tags: bool, progress: Any) -> tuple[Any, str | None]:
    """(timeline, the stored clock) from the PostgreSQL store at `url` (one that `azvm serve
    --database` made: a database without one is refused, not given an empty store)."""
    from .domain.errors import ArmError

    shown = shown_url(url)
    try:
        from .store.postgres import PostgresStore, holds_store
    except ImportError:
        raise UsageError(f"argument --database: {shown}: a postgresql:// database needs psycopg:"
                         " pip install 'azvm[postgres]'") from None
    task = progress.add_task(f"reading {shown}", total=None)
    try:
        if not holds_store(url):
            raise UsageError(f"argument --database: {shown}: holds no azvm store: expected the database of an"
                             " `azvm serve --database`, or give --history FILE")
        stored, saved = _read_store(PostgresStore(url), tags)
    except (RuntimeError, ArmError) as e:  # unreachable, lost midway, or from a newer azvm
        raise UsageError(f"argument --database: {shown}: {getattr(e, 'message', None) or e}") from None
    progress.update(task, completed=1, total=1)
    return stored, saved


def run_bill(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .domain.errors import ArmError
    from .service.billing import BillingService

    err = Console(stderr=True)
    svc = BillingService(load_prices_arg("--prices", args.prices), load_rules_arg("--rules", args.rules))
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True, disable=not err.is_terminal) as progress:
            tl, now = _load(args, progress)
            try:
                start, end = svc.window(tl, args.start, args.end, now)
            except ArmError as e:  # the HTTP API's words for the same check
                raise UsageError(f"argument --{e.target}: {e.message}" if e.target else e.message) from None
            if args.explain and not _has_vm(tl, args.explain):
                raise UsageError(f"argument --explain: no VM, disk or public IP {args.explain!r} in the history:"
                                 " expected the resource id of one of them (see `azvm bill --group-by vm`)")
            task = progress.add_task("metering and pricing", total=None)
            text = _render(args, svc, tl, start, end)
            progress.update(task, completed=1, total=1)
    except b.HistoryError as e:
        print(f"azvm: {len(e.problems)} malformed row(s) in {args.history}:", file=sys.stderr)
        for pr in e.problems:
            print(f"  {pr}", file=sys.stderr)
        return 2
    if args.output:
        write_output("--output", args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _has_vm(tl: Any, vm_id: str) -> bool:
    """A VM of the history, or a disk or public IP billed in it."""
    return bool(tl.has_vm(vm_id) or tl.has_resource(vm_id))


def _render(args: argparse.Namespace, svc: Any, tl: Any, start: int, end: int) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    if args.explain:
        ex = svc.explain(tl, args.explain, start, end)
        if args.format == "json":
            return json.dumps(svc.explain_json(ex), indent=2) + "\n"
        t = Table(title=f"{ex.vm_id}: {ex.total_display} {ex.currency} ({ex.rule_set}, {iso(start)} → {iso(end)})")
        for c in ("start", "end", "seconds", "state", "size", "billed", "rule", "unit price/h", "amount"):
            t.add_column(c, justify="right" if c in ("seconds", "unit price/h", "amount") else "left")
        for i in ex.intervals:
            t.add_row(iso(i.start_us)[:19], iso(i.end_us)[:19], str(i.seconds), i.state, i.size,
                      "yes" if i.billed else "no", i.reason, _d(i.unit_price), _d(i.amount))
        for d in ex.disks:
            t.add_row(iso(d.start_us)[:19], iso(d.end_us)[:19], str(d.seconds), f"disk {d.name}",
                      d.tier or d.sku, "yes", d.reason, _d(d.unit_price) + "/mo", _d(d.amount))
        for r in ex.resources:
            t.add_row(iso(r.start_us)[:19], iso(r.end_us)[:19], str(r.seconds), r.kind, r.meter, "yes", r.reason,
                      f"{_d(r.unit_price)} ({r.unit_of_measure})", _d(r.amount))
        return _print(t)
    if args.what_if:
        w = svc.what_if(tl, start, end)
        if args.format == "json":
            return json.dumps(svc.what_if_json(w), indent=2) + "\n"
        t = Table(title=f"Saving had every Stopped VM been deallocated: {w.total_display} {w.currency}"
                        f" ({w.rule_set})")
        for c in ("VM", "stopped seconds", "billed stopped seconds", "saving"):
            t.add_column(c, justify="left" if c == "VM" else "right")
        for v in w.vms:
            t.add_row(v.vm_id, str(v.stopped_seconds), str(v.billed_stopped_seconds),
                      "unpriced" if v.saving is None else str(b.display(v.saving, w.currency)))
        return _print(t)
    if args.format == "csv":
        return str(svc.cost_csv(tl, start, end))
    bl = svc.bill(tl, start, end, args.group_by)
    if args.format == "json":
        return json.dumps(svc.bill_json(bl), indent=2) + "\n"
    t = Table(title=f"azvm bill by {args.group_by}: {bl.total_display} {bl.currency} ({bl.rule_set},"
                    f" {iso(start)[:19]} → {iso(end)[:19]})" + ("" if bl.complete else " — INCOMPLETE: unpriced usage"))
    for c in (args.group_by, "meter", "billed hours", "unit price", "amount"):
        t.add_column(c, justify="right" if c in ("billed hours", "unit price", "amount") else "left")
    for ln in bl.lines:
        t.add_row(_short(ln.group), ln.meter, f"{ln.quantity:.4f}", _d(ln.unit_price),
                  "unpriced" if ln.amount is None else str(b.display(ln.amount, bl.currency)))
    for u in bl.unpriced:
        t.add_row(u.resource_id, f"{u.size} {u.location} {u.os_type}", f"{u.billed_seconds / 3600:.4f}", "-",
                  f"unpriced: {u.reason}")
    out = StringIO()
    Console(file=out, width=200).print(t)
    return out.getvalue()


def _short(group: str) -> str:
    """A resource id as `resourceGroup/name` (the full id is in the CSV and JSON outputs)."""
    rid = ResourceId.try_parse(group)
    if rid is not None and rid.resource_group is not None and rid.types:
        return f"{rid.resource_group}/{rid.name}"
    return group


def _d(v: Any) -> str:
    return "-" if v is None else str(v)


def _print(t: Any) -> str:
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    Console(file=out, width=200).print(t)
    return out.getvalue()
