"""Price sheets in the Azure Retail Prices API format.

Accepted documents: one saved API response envelope (``{"BillingCurrency": ..., "Items": [...]}``),
a JSON list of such envelopes (several pages), or a bare list of items. Only items of
``type == "Consumption"`` are used; Spot and Low Priority meters are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from .model import BillingError

__all__ = [
    "DISK_TIERS",
    "Meter",
    "PriceSheet",
    "PriceSheetError",
    "disk_meter_name",
    "load_prices",
    "public_ip_meter_name",
    "parse_prices",
    "sample_prices",
]

ILLUSTRATIVE_NOTE_KEY = "azvmNote"


class PriceSheetError(BillingError):
    """A price sheet could not be read."""


@dataclass(frozen=True, slots=True)
class Meter:
    """One priced meter: what a cost-details row needs to name it, and its unit price."""

    meter_id: str
    meter_name: str
    product_name: str  # MeterSubCategory in cost details
    service_name: str  # MeterCategory in cost details
    region: str
    unit_price: Decimal
    unit_of_measure: str
    currency: str
    illustrative: bool = False


# Managed disk tiers: capacity in GiB of each tier, per family (the tier letter).
_TIER_SIZES: dict[str, tuple[tuple[int, int], ...]] = {
    "S": ((4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024), (40, 2048), (50, 4096),
          (60, 8192), (70, 16384), (80, 32767)),
    "E": ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024),
          (40, 2048), (50, 4096), (60, 8192), (70, 16384), (80, 32767)),
    "P": ((1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024),
          (40, 2048), (50, 4096), (60, 8192), (70, 16384), (80, 32767)),
}
DISK_TIERS: Mapping[str, tuple[tuple[int, int], ...]] = _TIER_SIZES

# storageAccountType -> (tier letter, redundancy)
_DISK_FAMILIES: dict[str, tuple[str, str]] = {
    "standard_lrs": ("S", "LRS"),
    "standardssd_lrs": ("E", "LRS"),
    "standardssd_zrs": ("E", "ZRS"),
    "premium_lrs": ("P", "LRS"),
    "premium_zrs": ("P", "ZRS"),
}


def disk_meter_name(sku: str, size_gb: int) -> str | None:
    """The Retail Prices meterName of a managed disk, e.g. ("Premium_LRS", 100) -> "P10 LRS Disk".

    The tier is the smallest of the family whose capacity is >= size_gb. None when the sku is not
    tiered (UltraSSD_LRS, PremiumV2_LRS are priced by provisioned capacity) or the size exceeds
    the largest tier.
    """
    family = _DISK_FAMILIES.get(sku.lower())
    if family is None:
        return None
    letter, redundancy = family
    for number, capacity in _TIER_SIZES[letter]:
        if capacity >= size_gb:
            return f"{letter}{number} {redundancy} Disk"
    return None


def public_ip_meter_name(sku: str, allocation: str, version: str = "IPv4") -> str:
    """The Retail Prices meterName of a public IP (serviceName Virtual Network, productName IP
    Addresses), e.g. ("Standard", "Static") -> "Standard IPv4 Static Public IP", ("Basic", "Dynamic")
    -> "Basic IPv4 Dynamic Public IP". A Standard address is always Static."""
    tier = "Standard" if sku.lower() == "standard" else "Basic"
    method = "Static" if tier == "Standard" or allocation.lower() != "dynamic" else "Dynamic"
    return f"{tier} {version} {method} Public IP"


_DISK_METER = re.compile(r"[PES]\d+ (LRS|ZRS) Disk")


class PriceSheet:
    """Lookups over the Consumption items of a Retail Prices document."""

    def __init__(self, vm: Mapping[tuple[str, str, str], Meter], disk: Mapping[tuple[str, str], Meter],
                 currency: str, item_count: int, ip: Mapping[tuple[str, str], Meter] | None = None) -> None:
        self._vm = dict(vm)
        self._disk = dict(disk)
        self._ip = dict(ip or {})
        self.currency = currency
        self.item_count = item_count

    def vm(self, size: str, region: str, os_type: str) -> Meter | None:
        """The hourly meter of a VM size in a region for an OS (``Linux`` or ``Windows``)."""
        os_key = "windows" if os_type.lower() == "windows" else "linux"
        return self._vm.get((size.lower(), region.lower(), os_key))

    def disk(self, meter_name: str, region: str) -> Meter | None:
        """The monthly meter of a disk tier (e.g. ``P10 LRS Disk``) in a region."""
        return self._disk.get((meter_name.lower(), region.lower()))

    def public_ip(self, meter_name: str, region: str) -> Meter | None:
        """The hourly meter of a public IP (e.g. ``Standard IPv4 Static Public IP``) in a region."""
        return self._ip.get((meter_name.lower(), region.lower()))

    @property
    def vm_keys(self) -> frozenset[tuple[str, str, str]]:
        return frozenset(self._vm)

    @property
    def disk_keys(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._disk)


def _items_of(doc: Any) -> tuple[list[Mapping[str, Any]], str | None]:
    if isinstance(doc, dict):
        if "Items" not in doc or not isinstance(doc["Items"], list):
            raise PriceSheetError('expected a Retail Prices envelope with an "Items" list')
        cur = doc.get("BillingCurrency")
        return list(doc["Items"]), cur if isinstance(cur, str) else None
    if isinstance(doc, list):
        if doc and isinstance(doc[0], dict) and "Items" in doc[0]:
            items: list[Mapping[str, Any]] = []
            currency: str | None = None
            for i, page in enumerate(doc):
                if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
                    raise PriceSheetError(f'page {i + 1}: expected an envelope with an "Items" list')
                items.extend(page["Items"])
                cur = page.get("BillingCurrency")
                if isinstance(cur, str):
                    currency = currency or cur
            return items, currency
        return list(doc), None
    raise PriceSheetError("expected an envelope, a list of envelopes or a list of items")


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PriceSheetError(f"{where}: retailPrice: expected a number, got {value!r}")
    # repr of a float is its shortest round-trip text: 0.096 stays 0.096
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def parse_prices(doc: Any) -> PriceSheet:
    """Build a PriceSheet from a decoded Retail Prices document."""
    items, currency = _items_of(doc)
    vm: dict[tuple[str, str, str], tuple[str, Meter]] = {}
    disk: dict[tuple[str, str], tuple[str, Meter]] = {}
    ip: dict[tuple[str, str], tuple[str, Meter]] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise PriceSheetError(f"item {n}: expected an object")
        if item.get("type") != "Consumption":
            continue
        meter_name = str(item.get("meterName", ""))
        if meter_name.endswith(" Spot") or meter_name.endswith(" Low Priority"):
            continue
        if "tierMinimumUnits" in item and item["tierMinimumUnits"] not in (0, 0.0):
            continue
        region = str(item.get("armRegionName", "")).lower()
        product = str(item.get("productName", ""))
        service = str(item.get("serviceName", ""))
        item_currency = str(item.get("currencyCode", currency or "USD"))
        if currency is None:
            currency = item_currency
        elif item_currency != currency:
            raise PriceSheetError(f"item {n}: currencyCode {item_currency} differs from {currency}")
        start = str(item.get("effectiveStartDate", ""))
        meter = Meter(
            meter_id=str(item.get("meterId", "")),
            meter_name=meter_name,
            product_name=product,
            service_name=service,
            region=region,
            unit_price=_price(item.get("retailPrice"), f"item {n}"),
            unit_of_measure=str(item.get("unitOfMeasure", "")),
            currency=item_currency,
            illustrative=ILLUSTRATIVE_NOTE_KEY in item,
        )
        if service == "Virtual Machines" and item.get("armSkuName"):
            os_type = "windows" if product.endswith(" Windows") else "linux"
            vkey = (str(item["armSkuName"]).lower(), region, os_type)
            if vkey not in vm or vm[vkey][0] < start:  # the latest effective price wins
                vm[vkey] = (start, meter)
        elif service == "Storage" and _DISK_METER.fullmatch(meter_name) and product.endswith("Managed Disks"):
            dkey = (meter_name.lower(), region)
            if dkey not in disk or disk[dkey][0] < start:
                disk[dkey] = (start, meter)
        elif service == "Virtual Network" and product == "IP Addresses" and meter_name.endswith(" Public IP"):
            ikey = (meter_name.lower(), region)
            if ikey not in ip or ip[ikey][0] < start:
                ip[ikey] = (start, meter)
    vm_meters = {k: m for k, (_, m) in vm.items()}
    disk_meters = {k: m for k, (_, m) in disk.items()}
    ip_meters = {k: m for k, (_, m) in ip.items()}
    return PriceSheet(vm_meters, disk_meters, currency or "USD", len(items), ip_meters)


def load_prices(path: str | Path) -> PriceSheet:
    """Read a price sheet file (prices are parsed as exact decimals, never through float)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PriceSheetError(f"{p}: not valid JSON ({exc})") from exc
    return parse_prices(doc)


def sample_prices() -> PriceSheet:
    """The price sheet shipped with azvm (``azvm/data/prices-sample.json``)."""
    text = (resources.files("azvm") / "data" / "prices-sample.json").read_text(encoding="utf-8")
    return parse_prices(json.loads(text, parse_float=Decimal))


