from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from azvm.billing import PriceSheet, PriceSheetError, disk_meter_name, load_prices, parse_prices

DATA = Path(__file__).parents[2] / "src/azvm/data"
SHARED = Path(__file__).parents[3] / "shared/pricing/retail-prices-sample.json"  # shared/ beside the repo
SIZES = [
    "Standard_B1s",
    "Standard_B2s",
    "Standard_B2ms",
    "Standard_DS1_v2",
    "Standard_D2s_v3",
    "Standard_D4s_v3",
    "Standard_D8s_v3",
    "Standard_D2s_v5",
    "Standard_D4s_v5",
    "Standard_E2s_v5",
    "Standard_F2s_v2",
]


def _items() -> list[dict[str, object]]:
    return json.loads((DATA / "prices-sample.json").read_text())["Items"]


def test_sample_starts_with_the_25_real_items_verbatim() -> None:
    items = _items()
    real = [i for i in items if "azvmNote" not in i]
    assert len(real) == 25
    if SHARED.exists():
        original = json.loads(SHARED.read_text())["Items"]
        assert items[:25] == original
        assert [list(i) for i in items[:25]] == [list(i) for i in original]  # key order kept


def test_every_added_item_is_marked_illustrative_and_listed_in_the_md() -> None:
    md = (DATA / "prices-sample.md").read_text()
    added = _items()[25:]
    assert added
    for item in added:
        assert item["azvmNote"] == "illustrative: not from a recorded API response"
        assert item["type"] == "Consumption"
    for size in SIZES:
        assert size in md


@pytest.mark.parametrize("region", ["eastus", "westeurope", "westus2"])
@pytest.mark.parametrize("size", SIZES)
def test_common_sizes_are_priced_in_three_regions(prices: PriceSheet, size: str, region: str) -> None:
    linux = prices.vm(size, region, "Linux")
    windows = prices.vm(size, region, "Windows")
    assert linux is not None and windows is not None
    assert windows.unit_price > linux.unit_price
    assert windows.product_name.endswith(" Windows") and not linux.product_name.endswith(" Windows")


def test_real_prices_are_exact(prices: PriceSheet) -> None:
    m = prices.vm("standard_d2s_v3", "EastUS", "linux")
    assert m is not None and m.unit_price == Decimal("0.096") and not m.illustrative
    assert m.meter_id == "ae331802-83a5-4b9e-b287-85675f794e3d"
    w = prices.vm("Standard_D2s_v3", "westeurope", "Windows")
    assert (
        w is not None
        and w.unit_price == Decimal("0.212")
        and w.product_name == "Virtual Machines DSv3 Series Windows"
    )
    p15 = prices.disk("P15 LRS Disk", "eastus")
    assert p15 is not None and p15.unit_price == Decimal("38.012142") and p15.unit_of_measure == "1/Month"


@pytest.mark.parametrize("region", ["eastus", "westeurope", "westus2"])
@pytest.mark.parametrize("tier", ["S4", "S10", "S30", "E10", "P4", "P10", "P30"])
def test_disk_tiers_in_three_regions(prices: PriceSheet, tier: str, region: str) -> None:
    assert prices.disk(f"{tier} LRS Disk", region) is not None


@pytest.mark.parametrize(
    ("sku", "size", "meter"),
    [
        ("Premium_LRS", 1, "P1 LRS Disk"),
        ("Premium_LRS", 100, "P10 LRS Disk"),
        ("Premium_LRS", 128, "P10 LRS Disk"),
        ("Premium_LRS", 129, "P15 LRS Disk"),
        ("Standard_LRS", 30, "S4 LRS Disk"),
        ("Standard_LRS", 1024, "S30 LRS Disk"),
        ("standardssd_lrs", 64, "E6 LRS Disk"),
        ("StandardSSD_ZRS", 200, "E15 ZRS Disk"),
        ("Premium_ZRS", 512, "P20 ZRS Disk"),
        ("UltraSSD_LRS", 64, None),
        ("PremiumV2_LRS", 64, None),
        ("Premium_LRS", 40000, None),
    ],
)
def test_disk_tier_is_the_smallest_that_fits(sku: str, size: int, meter: str | None) -> None:
    assert disk_meter_name(sku, size) == meter


def _item(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": 0.5,
        "unitPrice": 0.5,
        "armRegionName": "eastus",
        "location": "US East",
        "effectiveStartDate": "2020-01-01T00:00:00Z",
        "meterId": "m",
        "meterName": "D2s v3",
        "productName": "Virtual Machines DSv3 Series",
        "skuName": "D2s v3",
        "serviceName": "Virtual Machines",
        "unitOfMeasure": "1 Hour",
        "type": "Consumption",
        "armSkuName": "Standard_D2s_v3",
    }
    base.update(kw)
    return base


def test_only_consumption_and_no_spot_or_low_priority() -> None:
    sheet = parse_prices(
        [
            _item(retailPrice=0.01, meterName="D2s v3 Spot"),
            _item(retailPrice=0.02, meterName="D2s v3 Low Priority"),
            _item(retailPrice=700.0, type="Reservation"),
            _item(retailPrice=0.03, type="DevTestConsumption"),
            _item(retailPrice=0.096),
        ]
    )
    m = sheet.vm("Standard_D2s_v3", "eastus", "Linux")
    assert m is not None and m.unit_price == Decimal("0.096")
    assert sheet.vm("Standard_D2s_v3", "eastus", "Windows") is None


def test_pages_as_a_list_of_envelopes_and_latest_effective_price_wins(tmp_path: Path) -> None:
    pages = [
        {
            "BillingCurrency": "USD",
            "Items": [_item(retailPrice=0.09, effectiveStartDate="2019-01-01T00:00:00Z")],
            "NextPageLink": "x",
        },
        {
            "BillingCurrency": "USD",
            "Items": [
                _item(retailPrice=0.1, effectiveStartDate="2021-01-01T00:00:00Z"),
                _item(retailPrice=0.2, productName="Virtual Machines DSv3 Series Windows"),
            ],
        },
    ]
    p = tmp_path / "pages.json"
    p.write_text(json.dumps(pages))
    sheet = load_prices(p)
    assert sheet.vm("Standard_D2s_v3", "eastus", "Linux").unit_price == Decimal("0.1")  # type: ignore[union-attr]
    assert sheet.vm("Standard_D2s_v3", "eastus", "Windows").unit_price == Decimal("0.2")  # type: ignore[union-attr]


def test_bad_documents() -> None:
    with pytest.raises(PriceSheetError):
        parse_prices({"nope": 1})
    with pytest.raises(PriceSheetError):
        parse_prices([_item(), _item(currencyCode="EUR")])
