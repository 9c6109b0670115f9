"""Exact money: amounts are exact rationals until they are shown.

A per-second charge is seconds x hourly price / 3600, which is not always a terminating decimal
(1 s at 0.096/h is 0.0000266...). The package keeps every amount exact as a Fraction, reports it
as a Decimal to 50 significant digits (which *is* exact whenever the amount terminates within 50
digits, as all amounts of whole hours, minutes, or multiples of 9 s do), and rounds once, for
display, to the currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from typing import Protocol

__all__ = ["CONTEXT", "currency_places", "display", "exact_sum", "quotient", "to_decimal"]

CONTEXT = Context(prec=50)

# ISO 4217 minor units for the currencies the Retail Prices API serves that are not 2-decimal.
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "IDR", "VND", "CLP", "ISK", "HUF", "TWD"})


def currency_places(currency: str) -> int:
    return 0 if currency.upper() in _ZERO_DECIMAL else 2


def to_decimal(value: Fraction) -> Decimal:
    """The Decimal of an exact amount (50 significant digits)."""
    return CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def quotient(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to 50 significant digits (denominator > 0): the same Decimal as
    `to_decimal(Fraction(numerator, denominator))`, without reducing the fraction first (a
    division of integers is correctly rounded, and exact results take the same exponent)."""
    return CONTEXT.divide(Decimal(numerator), Decimal(denominator))


def exact_sum(terms: Iterable[tuple[Decimal, int, int]]) -> Fraction:
    """The exact sum of ``price * count / per`` over `terms`: counts are added per (price, per)
    first, in integers, so the Fractions are one per distinct price rather than one per term."""
    counts: dict[tuple[Decimal, int], int] = {}
    for price, count, per in terms:
        k = (price, per)
        counts[k] = counts.get(k, 0) + count
    return sum((Fraction(price) * count / per for (price, per), count in counts.items()), Fraction(0))


def display(value: Fraction | Decimal, currency: str = "USD") -> Decimal:
    """Round once, for display: half up (away from zero), to the currency's minor unit."""
    places = currency_places(currency)
    if isinstance(value, Decimal):
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # floor(|value| * 10**places + 1/2), in integers
    num, den = abs(value.numerator), value.denominator
    units = (2 * num * 10**places + den) // (2 * den)
    return (Decimal(units) if value >= 0 else -Decimal(units)).scaleb(-places)


class _HasExactTotal(Protocol):
    @property
    def total_exact(self) -> Fraction: ...

    @property
    def currency(self) -> str: ...


class ExactTotal:
    """`total` (exact, 50 significant digits) and `total_display` (rounded once) of anything with
    a `total_exact` and a `currency`."""

    @property
    def total(self: _HasExactTotal) -> Decimal:
        return to_decimal(self.total_exact)

    @property
    def total_display(self: _HasExactTotal) -> Decimal:
        return display(self.total_exact, self.currency)
