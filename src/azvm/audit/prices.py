"""Prices fetched live from the Azure Retail Prices API, for exactly what the audit found.

`GET https://prices.azure.com/api/retail/prices` is public (no credential), filtered with OData
(`$filter`, values case-sensitive from api-version 2023-01-01-preview), 100 items a page followed by
`NextPageLink` (Microsoft's "Azure Retail Prices REST API overview"; a real request of that shape,
with `or` and parentheses, is in `shared/conformance/recorded/retail_prices_api_examples.json`).
One query per region and batch of meters; the items go through the same parser as a saved sheet
(`azvm.billing.parse_prices`), so a live sheet and a saved one price alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..billing import PriceSheet, disk_meter_name, parse_prices, public_ip_meter_name
from .costing import VmFacts

__all__ = ["RETAIL_PRICES_URL", "live_prices", "price_filters"]

RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
BATCH = 15  # meters per query: keeps the URL short
MAX_PAGES = 200


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def price_filters(vms: Iterable[VmFacts]) -> list[str]:
    """The `$filter`s that fetch every price the VMs need (sizes, disk tiers, public IP meters)."""
    wanted: dict[str, set[str]] = {}
    for vm in vms:
        region = vm.location.lower()
        clauses = wanted.setdefault(region, set())
        clauses.add(f"(serviceName eq 'Virtual Machines' and armSkuName eq {_q(vm.size)})")
        for d in vm.disks:
            tier = disk_meter_name(d.sku, d.size_gb)
            if tier:
                clauses.add(f"(serviceName eq 'Storage' and meterName eq {_q(tier)})")
        for ip in vm.public_ips:
            meter = public_ip_meter_name(ip.sku, ip.allocation)
            clauses.add(f"(serviceName eq 'Virtual Network' and meterName eq {_q(meter)})")
    out = []
    for region, clauses in sorted(wanted.items()):
        ordered = sorted(clauses)
        for i in range(0, len(ordered), BATCH):
            out.append(f"priceType eq 'Consumption' and armRegionName eq {_q(region)} and ("
                       + " or ".join(ordered[i:i + BATCH]) + ")")
    return out


def _get(client: Any, url: str, params: dict[str, str] | None) -> dict[str, Any]:
    from azure.core.rest import HttpRequest

    response = client.send_request(HttpRequest("GET", url, params=params))
    response.raise_for_status()
    doc = json.loads(response.text(), parse_float=Decimal)  # exact, as a saved sheet is read
    if not isinstance(doc, dict):
        raise ValueError("the Retail Prices API answered something other than a JSON object")
    return doc


def live_prices(vms: list[VmFacts], url: str = RETAIL_PRICES_URL, currency: str = "USD",
                verify: str | bool = True) -> PriceSheet:
    """A price sheet of the Retail Prices API's current Consumption prices for what `vms` use."""
    from azure.core import PipelineClient

    pages: list[dict[str, Any]] = []
    client: Any
    with PipelineClient(url, connection_verify=verify) as client:
        for flt in price_filters(vms):
            doc = _get(client, url, {"api-version": API_VERSION, "currencyCode": currency, "$filter": flt})
            pages.append(doc)
            for _ in range(MAX_PAGES):
                link = doc.get("NextPageLink")
                if not link:
                    break
                doc = _get(client, str(link), None)
                pages.append(doc)
    return parse_prices(pages)
