"""The documents' advice as code: read every VM's power state the way "States and billing of Azure
Virtual Machines" recommends, with nothing but the official SDK (the recipe itself is
`azvm.audit.power_states.read_power_states`, which `azvm audit` uses too).

1. List all VMs with their status only (`list_all(status_only="true")`): one paged call for the
   whole subscription.
2. For the VMs whose power state is missing from that list ("in rare situations"), list again.
3. Still missing: ask Azure Resource Graph (`properties.extended.instanceView.powerState`).

Each VM's answer says which path gave it. Written for Azure and run unchanged against azvm (the test,
tests/test_power_states_recipe.py, injects the missing power states with azvm's faults).

    python examples/power_states.py <subscription-id>        # DefaultAzureCredential, against Azure
"""

from __future__ import annotations

import sys

from azvm.audit.power_states import PowerState, read_power_states

__all__ = ["PowerState", "main", "read_power_states"]


def main(subscription_id: str) -> None:
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.resourcegraph import ResourceGraphClient

    credential = DefaultAzureCredential()
    states = read_power_states(ComputeManagementClient(credential, subscription_id), ResourceGraphClient(credential),
                               subscription_id)
    for p in states:
        print(f"{p.name:30} {p.power_state or '?':28} {p.source}")


if __name__ == "__main__":
    main(sys.argv[1])
