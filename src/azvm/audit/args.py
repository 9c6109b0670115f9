"""`azvm audit`'s flags (`azvm.audit.cli` runs them).

Every `azvm` command imports this module to register the subcommand, so it holds the flags only and
imports nothing but the standard library and `azvm.cli_args`; the SDK, rich and the billing package
load when an audit runs.

Exit codes: 0 nothing wasted above the threshold; 3 waste above `--threshold` remains (after
`--fix`, what it did not fix); 4 no such waste, but the audit is incomplete (a subscription could
not be read, or a deallocation failed); 2 a bad flag or file (one line on stderr).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ..cli_args import BadValue, Parser, arg_type, env_default, output_file, prices_arg, regular_file

__all__ = ["DESCRIPTION", "EXIT_INCOMPLETE", "EXIT_WASTE", "add_arguments", "add_audit_parser"]

EXIT_WASTE = 3
EXIT_INCOMPLETE = 4
BUILTIN_RULES = ("docs-2018", "docs-2021", "azure-2023")  # azvm.billing.BUILTIN_RULE_SETS (not loaded here)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

DESCRIPTION = """Find the VMs a subscription pays for without using, and deallocate them.

Reads every VM's power state as Microsoft's "States and billing" advises (list all with
statusOnly=true, list again for those missing, then Resource Graph) and says which path answered;
prices what leaving each VM as it is costs a month (compute under the rule set, its disks and public
IPs); calls out VMs Stopped (allocated) and still billed with what deallocating them would save.
Signs in with DefaultAzureCredential (environment, managed identity, Azure CLI login), against
Azure, or against an ARM endpoint given with --endpoint (e.g. azvm's), or under `azvm run`.

Exit codes: 0 no waste above --threshold; 3 waste above it (after --fix: what remains); 4 no such
waste but incomplete (a subscription unreadable, a deallocation failed); 2 bad input."""


def _guid(text: str) -> str:
    if not _GUID.fullmatch(text):
        raise ValueError(text)
    return text.lower()


def _endpoint(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
        raise ValueError(text)
    return text.rstrip("/")


def _amount(text: str) -> str:
    """An amount, kept as its text (decimal loads when an audit runs)."""
    if not re.fullmatch(r"\s*(\d+(\.\d*)?|\.\d+)\s*", text):
        raise ValueError(text)
    return text.strip()


def _tag(text: str) -> tuple[str, str | None]:
    name, eq, value = text.partition("=")
    if not name.strip():
        raise BadValue("no tag name")
    return name.strip(), (value if eq else None)


def _group(text: str) -> str:
    if not re.fullmatch(r"([0-9a-fA-F-]{36}/)?[-\w._()]{1,90}", text):
        raise ValueError(text)
    return text


def _rules(text: str) -> str:
    return text if text in BUILTIN_RULES else regular_file(text)


def _count(low: int, high: int) -> Any:
    def convert(text: str) -> int:
        n = int(text)
        if not low <= n <= high:
            raise ValueError(text)
        return n
    return arg_type(f"an integer from {low} to {high}", convert)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subscription", "-s", metavar="ID", action="append",
                   type=arg_type("a subscription id (GUID)", _guid),
                   help="a subscription to audit (repeatable; default: every subscription the credential sees)")
    p.add_argument("--endpoint", metavar="URL", type=arg_type("an https:// URL of an ARM endpoint", _endpoint),
                   default=env_default("AZVM_AUDIT_ENDPOINT"),
                   help="the Resource Manager endpoint (default: Azure's); its /metadata/endpoints names the sign-in"
                        " authority")
    p.add_argument("--ca-bundle", metavar="FILE", type=arg_type("a PEM file of certificates", regular_file),
                   help="certificates to trust (default: REQUESTS_CA_BUNDLE, SSL_CERT_FILE, then the system's)")
    p.add_argument("--rules", type=arg_type(f"a rule set ({', '.join(BUILTIN_RULES)}) or a JSON file of one", _rules),
                   default=env_default("AZVM_BILLING_RULES"),
                   help="which power states are billed: docs-2018, docs-2021 (default, azvm's), azure-2023, or a file")
    prices = p.add_mutually_exclusive_group()
    prices.add_argument("--prices", metavar="FILE", type=prices_arg,
                        help="a saved Retail Prices API response (default: the sample sheet shipped with azvm)")
    prices.add_argument("--live-prices", action="store_true",
                        help="fetch current prices from https://prices.azure.com/api/retail/prices")
    p.add_argument("--format", "-f", choices=("table", "json", "csv", "html"), default="table")
    p.add_argument("--output", "-o", metavar="FILE", type=output_file, help="write the report there (default: stdout)")
    p.add_argument("--threshold", metavar="AMOUNT", default="0",
                   type=arg_type("an amount, at least 0, e.g. 25 or 12.50", _amount),
                   help="exit 3 when the monthly waste (in the sheet's currency) is above it (default 0)")
    p.add_argument("--fix", action="store_true",
                   help="deallocate the VMs Stopped (allocated) and billed, after a confirmation (default: a dry run"
                        " that says what it would do)")
    p.add_argument("--yes", "-y", action="store_true", help="with --fix: do not ask for confirmation")
    p.add_argument("--exclude-tag", metavar="NAME[=VALUE]", action="append", default=[],
                   type=arg_type("NAME or NAME=VALUE", _tag),
                   help="leave VMs with this tag alone (not fixed, not counted as waste); repeatable")
    p.add_argument("--exclude-group", metavar="[SUBSCRIPTION/]GROUP", action="append", default=[],
                   type=arg_type("a resource group name, or SUBSCRIPTION/GROUP", _group),
                   help="leave the VMs of this resource group alone; repeatable")
    p.add_argument("--concurrency", type=_count(1, 64), default=8,
                   help="requests in flight at most (fewer when the service announces a smaller budget; default 8)")
    p.add_argument("--retries", type=_count(0, 10), default=2,
                   help="times to list again for power states missing from the list (default 2)")
    p.add_argument("--max-retries", type=_count(0, 50), default=8,
                   help="attempts after the first for a throttled or failed request (default 8); each waits what"
                        " the answer's Retry-After says, or backs off exponentially")
    p.add_argument("--no-progress", action="store_true", help="no progress display on stderr")


def add_audit_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("audit", help="find the VMs a subscription pays for without using (and deallocate them)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .cli import run

    return run(args)
