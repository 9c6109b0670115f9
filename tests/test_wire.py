"""The Date header's text: RFC 9110's IMF-fixdate, as the standard library writes it."""

from __future__ import annotations

from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st

from azvm.clock import MAX_US
from azvm.wire import http_date


@given(st.integers(min_value=0, max_value=MAX_US))
def test_http_date_is_imf_fixdate(us: int) -> None:
    assert http_date(us) == formatdate(us // 1_000_000, usegmt=True).encode()


def test_http_date_at_the_edges_of_a_second() -> None:
    assert http_date(1_767_225_600_000_000) == b"Thu, 01 Jan 2026 00:00:00 GMT"
    assert http_date(1_767_225_600_999_999) == b"Thu, 01 Jan 2026 00:00:00 GMT"
    assert http_date(1_767_225_601_000_000) == b"Thu, 01 Jan 2026 00:00:01 GMT"
    assert http_date(951_782_400_000_000) == b"Tue, 29 Feb 2000 00:00:00 GMT"
