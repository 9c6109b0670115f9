"""The .NET formatting that `format()` and `utcNow()` expose: composite format strings and date patterns.

format(): "It uses the same formatting options as the System.String.Format method in .NET"
(template-functions-string.md): `{index[,alignment][:formatString]}`, `{{`/`}}` for braces; numbers take the standard
specifiers D, N, F, X, P and custom zero/`#` patterns, other values their text. utcNow(format): the standard date
specifiers of the invariant culture (d, D, f, F, g, G, m, o, r, s, t, T, u, y) and custom patterns (yyyy, MM, dd, HH,
mm, ss, fff..., tt, ...), default "yyyyMMddTHHmmssZ" (template-functions-date.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .expressions import ExpressionError

_ITEM = re.compile(r"\{(\d+)\s*(?:,\s*(-?\d+))?\s*(?::([^{}]*))?\}")


def format_composite(pattern: str, args: Sequence[Any]) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("{{", i) or pattern.startswith("}}", i):
            out.append(ch)
            i += 2
            continue
        if ch == "{":
            match = _ITEM.match(pattern, i)
            if match is None:
                raise ExpressionError(f"The format string '{pattern}' is not valid: '{{' at position {i} does not "
                                      "start a format item.")
            index = int(match.group(1))
            if index >= len(args):
                raise ExpressionError(f"The format string '{pattern}' refers to argument {index}, but only "
                                      f"{len(args)} were given.")
            text = _format_value(args[index], match.group(3) or "")
            width = int(match.group(2) or 0)
            out.append(text.rjust(width) if width >= 0 else text.ljust(-width))
            i = match.end()
            continue
        if ch == "}":
            raise ExpressionError(f"The format string '{pattern}' is not valid: unmatched '}}' at position {i}.")
        out.append(ch)
        i += 1
    return "".join(out)


def _format_value(value: Any, spec: str) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int | float):
        return _format_number(value, spec) if spec else str(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_STANDARD = re.compile(r"([DdNnFfXxPp])(\d*)")


def _format_number(value: int | float, spec: str) -> str:
    match = _STANDARD.fullmatch(spec)
    if match:
        kind, digits = match.group(1).upper(), match.group(2)
        if kind == "D":
            if not isinstance(value, int):
                raise ExpressionError(f"The format specifier '{spec}' needs an integer.")
            sign = "-" if value < 0 else ""
            return sign + str(abs(value)).zfill(int(digits or 0))
        if kind == "X":
            if not isinstance(value, int):
                raise ExpressionError(f"The format specifier '{spec}' needs an integer.")
            text = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "x").zfill(int(digits or 0))
            return text.upper() if match.group(1) == "X" else text
        places = int(digits) if digits else 2
        if kind == "N":
            return f"{value:,.{places}f}"
        if kind == "F":
            return f"{value:.{places}f}"
        return f"{value * 100:,.{places}f} %"
    if re.fullmatch(r"[0#,.]+", spec):
        decimals = len(spec.split(".", 1)[1]) if "." in spec else 0
        integer = spec.split(".", 1)[0]
        grouped = "," in integer
        zeros = integer.replace(",", "").count("0")
        text = f"{abs(value):{',' if grouped else ''}.{decimals}f}"
        head, dot, tail = text.partition(".")
        digits_only = head.replace(",", "")
        if len(digits_only) < zeros:
            padded = digits_only.zfill(zeros)
            head = f"{int(padded):,}".rjust(len(padded), "0") if grouped else padded
        return ("-" if value < 0 else "") + head + dot + tail
    raise ExpressionError(f"The format specifier '{spec}' is not supported by azvm.")


# The invariant culture's patterns: template-functions-date.md shows utcNow('d') as "03/05/2019".
_STANDARD_DATES = {
    "d": "MM/dd/yyyy",
    "D": "dddd, dd MMMM yyyy",
    "f": "dddd, dd MMMM yyyy HH:mm",
    "F": "dddd, dd MMMM yyyy HH:mm:ss",
    "g": "MM/dd/yyyy HH:mm",
    "G": "MM/dd/yyyy HH:mm:ss",
    "m": "MMMM dd",
    "M": "MMMM dd",
    "o": "yyyy-MM-ddTHH:mm:ss.fffffffZ",
    "O": "yyyy-MM-ddTHH:mm:ss.fffffffZ",
    "r": "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
    "s": "yyyy-MM-ddTHH:mm:ss",
    "t": "HH:mm",
    "T": "HH:mm:ss",
    "u": "yyyy-MM-dd HH:mm:ssZ",
    "y": "yyyy MMMM",
    "Y": "yyyy MMMM",
}
_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\\.|y+|M+|d+|H+|h+|m+|s+|f+|F+|t+|z+|K|.", re.S)
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def format_datetime(when: datetime, pattern: str) -> str:
    """A UTC time in a .NET standard or custom date pattern (invariant culture)."""
    pattern = _STANDARD_DATES.get(pattern, pattern)
    out: list[str] = []
    for token in _TOKEN.findall(pattern):
        out.append(_date_token(when, token))
    return "".join(out)


def _date_token(when: datetime, token: str) -> str:
    head, n = token[0], len(token)
    if head in "'\"" and n >= 2:
        return token[1:-1]
    if head == "\\" and n == 2:
        return token[1]
    hour12 = when.hour % 12 or 12
    if head == "y":
        return str(when.year % 100).zfill(2) if n == 2 else str(when.year).zfill(n) if n > 1 else str(when.year % 100)
    if head == "M":
        month = _MONTHS[when.month - 1]
        return [str(when.month), f"{when.month:02d}", month[:3], month][min(n, 4) - 1]
    if head == "d":
        weekday = _DAYS[when.weekday()]
        return [str(when.day), f"{when.day:02d}", weekday[:3], weekday][min(n, 4) - 1]
    if head == "H":
        return f"{when.hour:0{min(n, 2)}d}"
    if head == "h":
        return f"{hour12:0{min(n, 2)}d}"
    if head == "m":
        return f"{when.minute:0{min(n, 2)}d}"
    if head == "s":
        return f"{when.second:0{min(n, 2)}d}"
    if head in "fF":
        digits = f"{when.microsecond:06d}0"[:min(n, 7)]
        return digits.rstrip("0") if head == "F" else digits
    if head == "t":
        return ("AM" if when.hour < 12 else "PM")[:n if n < 2 else 2]
    if head == "z":
        return "+00:00" if n >= 3 else "+00" if n == 2 else "+0"
    if head == "K":
        return "Z"
    return token
