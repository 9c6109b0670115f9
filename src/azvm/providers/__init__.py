"""The ARM surface by resource provider and type: each module registers its routes in the table.

A new resource type is one module here and one registration in `build_api` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ..arm.app import ArmApi, ServerConfig
from ..arm.http import Deferred, Req, Response
from ..arm.routes import Params, Router
from ..arm.versions import ApiVersionPolicy
from ..service.billing import BillingService
from ..service.compute import ComputeService
from ..service.validation import check_location
from . import cli_documents, compute, deployments, network, resource_graph, resource_health
from .activity_log import ActivityLog
from .compute.virtual_machines import VirtualMachines
from .cost_management import CostManagement
from .generic import PlainResource, operation_segment, operation_status
from .resources import ProviderType, ResourceManager

COMPUTE_TYPES = ["virtualMachines", "locations", "locations/operations", "locations/vmSizes",
                 "locations/virtualMachines", "operations"]


def build_api(service: ComputeService, config: ServerConfig, versions: ApiVersionPolicy,
              control: Callable[[Req], Response | Deferred] | None = None,
              billing: BillingService | None = None) -> ArmApi:
    """The ARM edge with every provider's routes registered."""
    router = Router(location_check=partial(check_location, type_name="locations"))
    api = ArmApi(service.store, config, versions, router, before=service.time.sync, now=service.now)
    resources = service.resources
    plain = (*compute.PLAIN_TYPES, *network.PLAIN_TYPES)
    for spec in plain:
        resources.register(spec)
    types = [ProviderType("Microsoft.Compute", t, "compute") for t in COMPUTE_TYPES]
    router.include(VirtualMachines(api, service).routes())
    for module in (compute, network):  # their routes beyond the plain engine's (catalogs, actions, children)
        types += module.register(api, router, service)
    for spec in plain:
        router.include(PlainResource(api, resources, spec).routes())
        ns, t = spec.type.split("/", 1)
        types.append(ProviderType(ns, t, spec.family))
    # plain operations' status routes, where the VMs' own route does not serve them
    op_routes = {(spec.namespace, operation_segment(spec), spec.family) for spec in plain}
    for ns, segment, family in sorted(op_routes - {("Microsoft.Compute", "operations", "compute")}):
        router.add("GET", f"/subscriptions/{{subscriptionId}}/providers/{ns}/locations/{{location}}/{segment}"
                          "/{operationId}", operation_status(resources), family=family,
                   type_name=f"locations/{segment}")
        types.append(ProviderType(ns, f"locations/{segment}", family))
    router.include(CostManagement(api, service, billing or BillingService()).routes())
    router.include(resource_health.register(api, service))
    router.include(ActivityLog(api, service).routes())
    types += [ProviderType("Microsoft.ResourceHealth", "availabilityStatuses", "resourcehealth"),
              ProviderType("Microsoft.Insights", "eventtypes", "insights")]
    engine = deployments.engine(api, service)
    router.include(deployments.routes(api, service, engine))
    router.include(resource_graph.routes(api, service))
    router.include(cli_documents.routes())
    for module in (deployments, resource_graph):
        types += [ProviderType(module.NAMESPACE, t, family) for t, family in module.TYPES]

    shared = service.settings.shared_clock

    def before() -> None:  # adopt what another process changed (clock, fault rules), run the deployments' due work
        if shared and service.store.foreign_writes:
            service.time.sync()
            service.faults.sync()
        engine.catch_up()
    api.before = before
    router.include(ResourceManager(api, service, resources, types).routes())
    if control is not None:
        ctl = control

        def control_route(req: Req, p: Params) -> Response | Deferred:
            return ctl(req)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            router.add(method, "/azvm/{path*}", control_route, family=None)
    return api


__all__ = ["build_api"]
