"""The pieces of the command line that every subcommand shares: typed flag values whose errors say
what was expected (flags and their AZVM_* environment defaults alike), user files read and written
with their errors named after the flag, and `UsageError`, which `azvm.cli.main` prints as one line
and exit 2.

Light on purpose (the standard library and the clock): every `azvm` command imports it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

from .clock import parse_iso

T = TypeVar("T")

TIME_EXPECTED = "an ISO 8601 time with a zone, e.g. 2026-01-01T00:00:00Z"


class UsageError(Exception):
    """A user's mistake on the command line: `azvm: <message>` on stderr and exit code 2, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as UsageError (one line) instead of printed after the usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


class BadValue(ValueError):
    """Raised by a flag's converter with what is wrong with the value (the caller adds what was expected)."""


class EnvValue(str):
    """A flag's default read from an AZVM_* variable, so that an error names the variable."""

    variable = ""


def env_default(name: str, fallback: str | None = None) -> str | None:
    """The value of the environment variable `name` as a flag default (unset or empty: `fallback`).

    A string default goes through the flag's `type=` like a value typed on the command line, so a
    bad variable is reported as cleanly as a bad flag, and only by the subcommand that reads it."""
    raw = os.environ.get(name)
    if not raw:
        return fallback
    value = EnvValue(raw)
    value.variable = name
    return value


def arg_type(expected: str, convert: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type=`: `convert` raises ValueError (or OverflowError) on a bad value, which is
    reported with the value, where it came from, what is wrong (a BadValue's words) and what was
    `expected`."""

    def parse(text: str) -> T:
        try:
            return convert(text)
        except (ValueError, OverflowError) as e:
            where = f" (from {text.variable})" if isinstance(text, EnvValue) else ""
            why = f" {e}:" if isinstance(e, BadValue) else ""
            raise argparse.ArgumentTypeError(f"{text!r}{where}:{why} expected {expected}") from None

    return parse


def check_time(text: str) -> int:
    """`parse_iso`, with a missing zone told as a BadValue."""
    try:
        return parse_iso(text)
    except ValueError as e:
        raise BadValue("no time zone") if str(e).endswith("has no time zone") else e from None


def _time(text: str) -> str:
    check_time(text)
    return text  # kept as given: the billing service parses windows itself


def regular_file(text: str) -> str:
    p = Path(text)
    try:
        if not p.exists():
            raise BadValue("no such file")
        if p.is_dir():
            raise BadValue("a directory")
        if not p.is_file():  # a device or a pipe (/dev/zero would never end)
            raise BadValue("not a regular file")
    except OSError as e:
        raise BadValue(e.strerror or "cannot be read") from None
    return text


def _output_file(text: str) -> str:
    p = Path(text)
    try:
        if not text or p.is_dir():
            raise BadValue("a directory")
        if not p.parent.is_dir():
            raise BadValue("no such directory")
    except OSError as e:
        raise BadValue(e.strerror or "cannot be written") from None
    return text


iso_time = arg_type(TIME_EXPECTED, _time)
prices_arg = arg_type("a Retail Prices API JSON file", regular_file)
output_file = arg_type("a file in an existing directory", _output_file)


@contextmanager
def user_file(flag: str, path: str, keep: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Errors while reading or writing the file a user named with `flag`, as one UsageError each
    (those of the classes in `keep` pass through: the caller reports them itself)."""
    try:
        yield
    except UsageError:
        raise
    except OSError as e:
        raise UsageError(f"argument {flag}: {path!r}: {e.strerror or e}") from None
    except UnicodeError:
        raise UsageError(f"argument {flag}: {path!r}: not UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"argument {flag}: {path!r}: nested too deeply") from None
    except ValueError as e:  # e.g. billing's own errors (PriceSheetError, RuleSetError) and json's
        if isinstance(e, keep):
            raise
        message = str(e)
        for prefix in (f"{path}: ", f"{Path(path)}: "):
            message = message.removeprefix(prefix)
        raise UsageError(f"argument {flag}: {path!r}: {message}") from None


def write_output(flag: str, path: str, text: str) -> None:
    with user_file(flag, path):
        Path(path).write_text(text, encoding="utf-8")


def database_url(text: str) -> str:
    if not text.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: expected a postgresql:// URL")
    return text


def shown_url(url: str | None) -> str:
    """A database URL as printed: its password hidden."""
    from urllib.parse import urlsplit

    if url is None:
        return ""
    u = urlsplit(url)
    if u.password:
        return u._replace(netloc=u.netloc.replace(f":{u.password}@", ":***@")).geturl()
    return url
