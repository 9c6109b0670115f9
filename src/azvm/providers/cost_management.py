"""Microsoft.CostManagement/query: a subset of the Cost Management Query API, so that
azure-mgmt-costmanagement reads what azvm's meter says (docs/billing.md)."""

from __future__ import annotations

from ..arm.app import ArmApi
from ..arm.http import Deferred, Req, Response, json_response
from ..arm.routes import Params, RouteRow
from ..service.billing import BillingService
from ..service.compute import ComputeService

SUB = "/subscriptions/{subscriptionId}"


class CostManagement:
    def __init__(self, api: ArmApi, svc: ComputeService, billing: BillingService) -> None:
        self.api = api
        self.svc = svc
        self.billing = billing

    def routes(self) -> list[RouteRow]:
        q = "/providers/Microsoft.CostManagement/query"
        return [("POST", SUB + q, self.query_sub, "arm", None),
                ("POST", SUB + "/resourceGroups/{resourceGroupName}" + q, self.query_group, "arm", None)]

    def query_sub(self, req: Req, p: Params) -> Response | Deferred:
        return self._query(req, f"/subscriptions/{p['subscriptionId']}")

    def query_group(self, req: Req, p: Params) -> Response | Deferred:
        self.svc.groups.require(p["subscriptionId"], p["resourceGroupName"])
        return self._query(req, f"/subscriptions/{p['subscriptionId']}/resourceGroups/{p['resourceGroupName']}")

    def _query(self, req: Req, scope: str) -> Response | Deferred:
        """Validated (400 before anything else), the store read here; the bill computed off the loop."""
        work = self.billing.prepare_query(self.svc.store, scope, req.json(), self.svc.now())
        return Deferred(lambda: json_response(work()))
