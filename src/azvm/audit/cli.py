"""`azvm audit` (and `python -m azvm.audit`): what runs its flags (`azvm.audit.args`).

Exit codes: 0 nothing wasted above the threshold; 3 waste above `--threshold` remains (after
`--fix`, what it did not fix); 4 no such waste, but the audit is incomplete (a subscription could
not be read, or a deallocation failed); 2 a bad flag or file (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..cli_args import Parser, UsageError
from .args import DESCRIPTION, EXIT_INCOMPLETE, EXIT_WASTE, add_arguments

__all__ = ["main", "run"]


def _load(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(rules, prices or a function making them, where the prices come from), every file read now."""
    from .. import billing as b
    from ..cli_args import user_file

    if args.rules is None or args.rules in b.BUILTIN_RULE_SETS:
        rules = b.rule_set(args.rules or b.DEFAULT_RULE_SET)
    else:
        with user_file("--rules", args.rules):
            rules = b.load_rules(args.rules)
    if args.live_prices:
        from .prices import RETAIL_PRICES_URL, live_prices

        return rules, live_prices, f"live, {RETAIL_PRICES_URL}"
    if args.prices:
        with user_file("--prices", args.prices):
            return rules, b.load_prices(args.prices), args.prices
    return rules, b.sample_prices(), "the sample sheet shipped with azvm"


def _confirm(todo: Sequence[Any], currency: str, saving: Any, console: Any) -> bool:
    from ..billing import display

    console.print(f"--fix will deallocate {len(todo)} VM(s), saving {display(saving, currency)} {currency}/month:",
                  highlight=False, markup=False)
    for f in todo:
        console.print(f"  {f.vm.id}", highlight=False, markup=False)
    console.print("Deallocate them? [y/N] ", end="", highlight=False, markup=False)
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    """Run an audit from parsed arguments; the exit code."""
    import logging
    from fractions import Fraction

    from rich.console import Console
    from rich.progress import Progress

    from .connect import Connection
    from .fix import deallocate, targets
    from .report import render_csv, render_html, render_json, render_table
    from .run import Exclusions, audit

    rules, prices, source = _load(args)
    # the SDK's own warnings (a credential chain that failed, ...) would repeat what the report says
    logging.getLogger("azure").setLevel(logging.ERROR)
    err = Console(stderr=True)
    try:
        conn = Connection(endpoint=args.endpoint, ca_bundle=args.ca_bundle, concurrency=args.concurrency,
                          retry_total=args.max_retries)
    except Exception as e:  # the endpoint's metadata could not be read: the user's endpoint or certificate
        from azure.core.exceptions import AzureError

        if not isinstance(e, (AzureError, ValueError)):
            raise
        raise UsageError(f"argument --endpoint: {args.endpoint!r}: {str(e).splitlines()[0] if str(e) else e}:"
                         " expected an ARM endpoint serving /metadata/endpoints") from None
    exclusions = Exclusions(tuple(args.exclude_tag), tuple(args.exclude_group))
    show = not args.no_progress and err.is_terminal
    with Progress(console=err, transient=True, disable=not show) as progress:
        report = audit(conn, args.subscription, prices, rules, prices_source=source, exclusions=exclusions,
                       threshold=Fraction(args.threshold), retries=args.retries, progress=progress)
    dry_run = not args.fix
    todo = targets(report.findings)
    if args.fix and todo:
        if args.yes or _confirm(todo, report.currency, report.waste, err):
            with Progress(console=err, transient=True, disable=not show) as progress:
                report.fixes = deallocate(conn, todo, progress)
        else:
            err.print("Nothing deallocated.", highlight=False, markup=False)
            dry_run = True
    text: str | None = None
    if args.format == "json":
        text = render_json(report, dry_run)
    elif args.format == "csv":
        text = render_csv(report)
    elif args.format == "html":
        text = render_html(report, dry_run)
    if args.output:
        from ..cli_args import user_file

        with user_file("--output", args.output), open(args.output, "w", encoding="utf-8") as fp:
            if text is None:
                render_table(report, Console(file=fp, width=160, no_color=True), dry_run)
            else:
                fp.write(text)
    elif text is None:
        out = Console()
        render_table(report, out if out.is_terminal else Console(width=160), dry_run)
    else:
        sys.stdout.write(text)
    if report.over_threshold:
        return EXIT_WASTE
    if report.unreadable or any(not r.ok for r in report.fixes):
        return EXIT_INCOMPLETE
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m azvm.audit`: the same as `azvm audit`."""
    from ..billing import BillingError

    parser = Parser(prog="azvm audit", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except (UsageError, BillingError) as e:
        print("azvm: " + " ".join(str(e).splitlines()), file=sys.stderr)
        return 2
