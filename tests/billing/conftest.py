from __future__ import annotations

import pytest

from azvm.billing import PriceSheet, sample_prices


@pytest.fixture(scope="session")
def prices() -> PriceSheet:
    return sample_prices()
