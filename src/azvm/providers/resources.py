"""ARM's own routes: tenants, subscriptions, resource groups, generic resource lists, providers,
and the cloud metadata that clients read to find azvm's endpoints.

Paths as in azure-rest-api-specs `Microsoft.Resources/stable/*/resources.json` and
`subscriptions.json`; the metadata document as the Azure CLI and SDK-based tools read it
(shared/CLIENTS.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..arm import render
from ..arm.app import ArmApi
from ..arm.http import Req, Response, empty_response, json_response
from ..arm.routes import Params, RouteRow
from ..arm.versions import FAMILIES
from ..domain.errors import ArmError, NotFound
from ..service.compute import VM_TYPE, ComputeService
from ..service.resources import Resources
from ..service.validation import REGIONS

SUB = "/subscriptions/{subscriptionId}"
RG = SUB + "/resourceGroups/{resourceGroupName}"
ARM = "arm"


@dataclass(frozen=True)
class ProviderType:
    namespace: str
    type: str  # e.g. "virtualMachines", "locations/operations"
    family: str


class ResourceManager:
    def __init__(self, api: ArmApi, svc: ComputeService, res: Resources, types: list[ProviderType]) -> None:
        self.api = api
        self.svc = svc
        self.res = res
        self.types = types

    def routes(self) -> list[RouteRow]:
        return [
            ("GET", "/metadata/endpoints", self.metadata, None, None),
            ("GET", "/tenants", self.tenants, ARM, None),
            ("GET", "/subscriptions", self.subscriptions, ARM, None),
            ("GET", SUB, self.subscription, ARM, None),
            ("GET", SUB + "/providers", self.providers, ARM, None),
            ("GET", SUB + "/providers/{resourceProviderNamespace}", self.provider, ARM, None),
            ("GET", SUB + "/resources", self.list_sub, ARM, None),
            ("GET", SUB + "/resourcegroups", self.list_groups, ARM, None),
            ("PUT", RG, self.put_group, ARM, None),
            ("GET", RG, self.get_group, ARM, None),
            ("HEAD", RG, self.head_group, ARM, None),
            ("DELETE", RG, self.delete_group, ARM, None),
            ("GET", RG + "/resources", self.list_group, ARM, None),
            ("GET", SUB + "/operationresults/{operationId}", self.group_operation, None, None),
            ("GET", SUB + "/locations", self.locations, ARM, None),
        ]

    # -- ARM's own -----------------------------------------------------------------------------------
    def metadata(self, req: Req, p: Params) -> Response:
        base = req.base + "/"
        doc = {
            "galleryEndpoint": base, "graphEndpoint": base, "portalEndpoint": base,
            "graphAudience": base, "batch": base, "name": "azvm",
            "authentication": {"loginEndpoint": req.base, "audiences": [
                "https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common", "identityProvider": "AAD"},
            "media": base, "resourceManager": base, "sqlManagement": base, "microsoftGraphResourceId": base,
            "appInsightsResourceId": base, "appInsightsTelemetryChannelResourceId": base,
            "attestationResourceId": base, "synapseAnalyticsResourceId": base, "logAnalyticsResourceId": base,
            "ossrDbmsResourceId": base,
            # the image-alias document `az vm create --image Ubuntu2204` reads (providers/cli_documents.py);
            # `az cloud register` without --skip-endpoint-discovery takes it from here
            "vmImageAliasDoc": base + "metadata/cli/vm/aliases.json",
            "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.net", "acrLoginServer": "azurecr.io",
                         "sqlServerHostname": "database.windows.net", "keyVaultDns": "vault.azure.net",
                         "storage": "core.windows.net", "storageSyncEndpointSuffix": "afs.azure.net",
                         "mhsmDns": "managedhsm.azure.net", "mysqlServerEndpoint": "mysql.database.azure.com",
                         "postgresqlServerEndpoint": "postgres.database.azure.com",
                         "mariadbServerEndpoint": "mariadb.database.azure.com",
                         "synapseAnalytics": "dev.azuresynapse.net", "attestationEndpoint": "attest.azure.net"}}
        return json_response(doc)

    def tenants(self, req: Req, p: Params) -> Response:
        t = self.api.cfg.tenant_id
        return json_response({"value": [{"id": f"/tenants/{t}", "tenantId": t, "tenantCategory": "Home",
                                         "displayName": "azvm"}]})

    def _subscription(self, sub: str) -> dict[str, Any]:
        return subscription_body(sub, self.api.cfg.tenant_id)

    def locations(self, req: Req, p: Params) -> Response:
        return json_response(locations_body(p["subscriptionId"]))

    def subscriptions(self, req: Req, p: Params) -> Response:
        """Every subscription the caller may see: the principal's own in strict mode, azvm's in open mode."""
        subs = req.principal.principal.subscriptions() if req.principal is not None else [self.api.cfg.subscription_id]
        return json_response({"value": [self._subscription(s) for s in subs]})

    def subscription(self, req: Req, p: Params) -> Response:
        return json_response(self._subscription(p["subscriptionId"]))

    # -- providers -----------------------------------------------------------------------------------
    def _provider_body(self, sub: str, namespace: str) -> dict[str, Any]:
        locs = sorted(REGIONS)
        types = [t for t in self.types if t.namespace.lower() == namespace.lower()]
        out = []
        for t in types:
            versions = list(reversed(FAMILIES.get(t.family, ())))
            out.append({"resourceType": t.type, "locations": locs, "apiVersions": versions,
                        "defaultApiVersion": versions[0] if versions else None, "capabilities": "None"})
        return {"id": f"/subscriptions/{sub}/providers/{types[0].namespace}", "namespace": types[0].namespace,
                "registrationState": "Registered", "registrationPolicy": "RegistrationRequired",
                "resourceTypes": out}

    def providers(self, req: Req, p: Params) -> Response:
        namespaces = sorted({t.namespace for t in self.types})
        return json_response({"value": [self._provider_body(p["subscriptionId"], ns) for ns in namespaces]})

    def provider(self, req: Req, p: Params) -> Response:
        ns = p["resourceProviderNamespace"]
        if not any(t.namespace.lower() == ns.lower() for t in self.types):
            raise ArmError(f"The resource namespace '{ns}' is invalid.", code="InvalidResourceNamespace")
        return json_response(self._provider_body(p["subscriptionId"], ns))

    # -- resource groups -----------------------------------------------------------------------------
    def list_groups(self, req: Req, p: Params) -> Response:
        now = self.svc.now()
        return json_response({"value": [render.group_body(g, now) for g in self.svc.groups.list(p["subscriptionId"])]})

    def put_group(self, req: Req, p: Params) -> Response:
        row, created = self.svc.groups.create_or_update(p["subscriptionId"], p["resourceGroupName"], req.json())
        return json_response(render.group_body(row, self.svc.now()), 201 if created else 200)

    def get_group(self, req: Req, p: Params) -> Response:
        return json_response(render.group_body(self.svc.groups.require(p["subscriptionId"], p["resourceGroupName"]),
                                               self.svc.now()))

    def head_group(self, req: Req, p: Params) -> Response:
        try:
            self.svc.groups.require(p["subscriptionId"], p["resourceGroupName"])
        except ArmError:
            return empty_response(404)
        return empty_response(204)

    def delete_group(self, req: Req, p: Params) -> Response:
        sub = p["subscriptionId"]
        op_id = self.svc.groups.delete(sub, p["resourceGroupName"])
        url = f"{req.base}/subscriptions/{sub}/operationresults/{op_id}?api-version={req.q('api-version')}"
        return empty_response(202, {"Location": url, **self.api.retry_headers()})

    def group_operation(self, req: Req, p: Params) -> Response:
        sub, op_id = p["subscriptionId"], p["operationId"]
        found = self.svc.groups.operation(op_id)
        if found is None:
            raise NotFound(f"The operation '{op_id}' could not be found.", code="NotFound")
        _g, done = found
        if done:
            return empty_response(200)
        return empty_response(202, {"Location": f"{req.base}/subscriptions/{sub}/operationresults/{op_id}"
                                                f"?api-version={req.q('api-version')}", **self.api.retry_headers()})

    # -- generic resource lists ------------------------------------------------------------------------
    def list_sub(self, req: Req, p: Params) -> Response:
        return self._generic(req, p["subscriptionId"], None)

    def list_group(self, req: Req, p: Params) -> Response:
        self.svc.groups.require(p["subscriptionId"], p["resourceGroupName"])
        return self._generic(req, p["subscriptionId"], p["resourceGroupName"])

    def _generic(self, req: Req, sub: str, rg: str | None) -> Response:
        """Every resource (VMs and plain ones), filtered by `$filter` on resourceType, name or a tag."""
        clauses, flt = parse_filter(req.q("$filter"))
        wanted = clauses.get("resourcetype")  # a type named: only that kind is read at all
        out: list[dict[str, Any]] = []
        if wanted is None or wanted.lower() == VM_TYPE.lower():
            vms, _ = self.svc.list_vms(sub, rg=rg, limit=100_000)
            for st in vms:
                m = st.row.model
                out.append(_generic_entry(str(m.get("id")), st.row.name, VM_TYPE, st.row.location, m.get("tags")))
        after: str | None = None
        while wanted is None or wanted.lower() != VM_TYPE.lower():
            rows, after = self.res.page(sub=sub, rg=rg, type_=wanted, after=after, limit=1000)
            for r in rows:
                spec = self.res.spec(r.type)
                if "/" in r.type.split("/", 1)[1] or (spec is not None and not spec.generic):
                    continue  # child resources are not listed on their own, nor deployments
                out.append(_generic_entry(str(r.body.get("id")), r.name, r.type, r.location, r.body.get("tags")))
            if after is None:
                break
        out = [e for e in out if flt(e)]
        out.sort(key=lambda e: str(e["id"]).lower())
        return json_response({"value": out})


# Azure's regions as `az account list-locations` shows them: (display name, geography of the regional
# display name). Subscriptions_ListLocations (azure-rest-api-specs Microsoft.Resources/subscriptions).
REGION_NAMES: dict[str, tuple[str, str]] = {
    "australiacentral": ("Australia Central", "Asia Pacific"),
    "australiacentral2": ("Australia Central 2", "Asia Pacific"),
    "australiaeast": ("Australia East", "Asia Pacific"), "australiasoutheast": ("Australia Southeast", "Asia Pacific"),
    "brazilsouth": ("Brazil South", "South America"), "canadacentral": ("Canada Central", "Canada"),
    "canadaeast": ("Canada East", "Canada"), "centralindia": ("Central India", "Asia Pacific"),
    "centralus": ("Central US", "US"), "eastasia": ("East Asia", "Asia Pacific"), "eastus": ("East US", "US"),
    "eastus2": ("East US 2", "US"), "francecentral": ("France Central", "Europe"),
    "germanywestcentral": ("Germany West Central", "Europe"), "israelcentral": ("Israel Central", "Middle East"),
    "italynorth": ("Italy North", "Europe"), "japaneast": ("Japan East", "Asia Pacific"),
    "japanwest": ("Japan West", "Asia Pacific"), "koreacentral": ("Korea Central", "Asia Pacific"),
    "koreasouth": ("Korea South", "Asia Pacific"), "mexicocentral": ("Mexico Central", "Mexico"),
    "newzealandnorth": ("New Zealand North", "Asia Pacific"), "northcentralus": ("North Central US", "US"),
    "northeurope": ("North Europe", "Europe"), "norwayeast": ("Norway East", "Europe"),
    "polandcentral": ("Poland Central", "Europe"), "qatarcentral": ("Qatar Central", "Middle East"),
    "southafricanorth": ("South Africa North", "Africa"), "southcentralus": ("South Central US", "US"),
    "southeastasia": ("Southeast Asia", "Asia Pacific"), "southindia": ("South India", "Asia Pacific"),
    "spaincentral": ("Spain Central", "Europe"), "swedencentral": ("Sweden Central", "Europe"),
    "switzerlandnorth": ("Switzerland North", "Europe"), "uaenorth": ("UAE North", "Middle East"),
    "uksouth": ("UK South", "Europe"), "ukwest": ("UK West", "Europe"), "westcentralus": ("West Central US", "US"),
    "westeurope": ("West Europe", "Europe"), "westindia": ("West India", "Asia Pacific"), "westus": ("West US", "US"),
    "westus2": ("West US 2", "US"), "westus3": ("West US 3", "US"),
}


def locations_body(sub: str) -> dict[str, Any]:
    """GET /subscriptions/{s}/locations: every region azvm serves."""
    return {"value": [{"id": f"/subscriptions/{sub}/locations/{name}", "name": name, "type": "Region",
                       "displayName": shown, "regionalDisplayName": f"({geo}) {shown}",
                       "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}
                      for name, (shown, geo) in sorted(REGION_NAMES.items())]}


def subscription_body(sub: str, tenant_id: str) -> dict[str, Any]:
    """A subscription as ARM shows it (GET /subscriptions/{id}), and as Resource Graph's resourcecontainers row."""
    return {"id": f"/subscriptions/{sub}", "authorizationSource": "RoleBased", "managedByTenants": [],
            "subscriptionId": sub, "tenantId": tenant_id, "displayName": "azvm subscription",
            "state": "Enabled", "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                         "quotaId": "PayAsYouGo_2014-09-01",
                                                         "spendingLimit": "Off"}}


def _generic_entry(rid: str, name: str, type_: str, location: str, tags: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"id": rid, "name": name, "type": type_, "location": location}
    if tags:
        e["tags"] = tags
    return e


def parse_filter(text: str | None) -> tuple[dict[str, str], Callable[[dict[str, Any]], bool]]:
    """The `$filter` forms that the resources list supports (resources.json): `resourceType eq 'T'`,
    `name eq 'N'`, `tagName eq 'K'` with an optional `and tagValue eq 'V'`, joined by `and`; its
    clauses by field, and the test of an entry."""
    clauses: dict[str, str] = {}
    if not text:
        return clauses, lambda e: True
    for part in _split_and(text):
        field, op, value = _clause(part)
        if op != "eq" or field not in ("resourcetype", "name", "tagname", "tagvalue", "location"):
            raise ArmError(f"The $filter '{text}' is not supported: use resourceType, name, location, tagName and"
                           " tagValue with 'eq', joined by 'and'.", code="InvalidFilterInQueryString",
                           target="$filter")
        clauses[field] = value

    def keep(e: dict[str, Any]) -> bool:
        if "resourcetype" in clauses and str(e["type"]).lower() != clauses["resourcetype"].lower():
            return False
        if "name" in clauses and str(e["name"]).lower() != clauses["name"].lower():
            return False
        if "location" in clauses and str(e["location"]).lower() != clauses["location"].lower():
            return False
        if "tagname" in clauses:
            tags = {str(k).lower(): v for k, v in (e.get("tags") or {}).items()}
            if clauses["tagname"].lower() not in tags:
                return False
            if "tagvalue" in clauses and tags[clauses["tagname"].lower()] != clauses["tagvalue"]:
                return False
        return True
    return clauses, keep


def _split_and(text: str) -> list[str]:
    parts, cur, quoted = [], "", False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted
        if not quoted and text[i:i + 5].lower() == " and ":
            parts.append(cur)
            cur, i = "", i + 5
            continue
        cur += ch
        i += 1
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


_CLAUSE = re.compile(r"(\w+)\s+(\w+)\s+'((?:[^']|'')*)'")


def _clause(part: str) -> tuple[str, str, str]:
    m = _CLAUSE.fullmatch(part)
    if m is None:
        raise ArmError(f"The $filter clause '{part}' is malformed: expected <field> eq '<value>'.",
                       code="InvalidFilterInQueryString", target="$filter")
    return m.group(1).lower(), m.group(2).lower(), m.group(3).replace("''", "'")


__all__ = ["ProviderType", "ResourceManager", "parse_filter", "subscription_body"]
