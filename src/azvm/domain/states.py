"""The states of the documents, with their wire codes, display texts and levels (SPEC.md §1-2).

No other module spells a state literal: everything reads these tables.
"""

from __future__ import annotations

from enum import StrEnum


class PowerState(StrEnum):
    """`PowerState/<value>` in the instance view."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"
    UNKNOWN = "unknown"

    @property
    def code(self) -> str:
        return f"PowerState/{self.value}"

    @property
    def display(self) -> str:
        return f"VM {self.value}"


TRANSITIONAL_POWER = frozenset({PowerState.STARTING, PowerState.STOPPING, PowerState.DEALLOCATING})


class ProvisioningState(StrEnum):
    """`properties.provisioningState` of a VM (the operation's status, not the power state)."""

    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class Prov(StrEnum):
    """Provisioning sub-states as they appear in instance-view codes `ProvisioningState/<value>`."""

    CREATING = "creating"
    OS_PROVISIONING_IN_PROGRESS = "creating/OSProvisioningInprogress"
    OS_PROVISIONING_COMPLETE = "creating/OSProvisioningComplete"
    UPDATING = "updating"
    DELETING = "deleting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the code carries the error: ProvisioningState/failed/<ErrorCode>

    @property
    def provisioning_state(self) -> ProvisioningState:
        return _PROV_TO_STATE[self]

    @property
    def display(self) -> str:
        return _PROV_DISPLAY[self]

    @property
    def terminal(self) -> bool:
        return self in (Prov.SUCCEEDED, Prov.FAILED)


_PROV_TO_STATE = {
    Prov.CREATING: ProvisioningState.CREATING,
    Prov.OS_PROVISIONING_IN_PROGRESS: ProvisioningState.CREATING,
    Prov.OS_PROVISIONING_COMPLETE: ProvisioningState.CREATING,
    Prov.UPDATING: ProvisioningState.UPDATING,
    Prov.DELETING: ProvisioningState.DELETING,
    Prov.SUCCEEDED: ProvisioningState.SUCCEEDED,
    Prov.FAILED: ProvisioningState.FAILED,
}

_PROV_DISPLAY = {
    Prov.CREATING: "Creating",
    Prov.OS_PROVISIONING_IN_PROGRESS: "OS Provisioning In progress",
    Prov.OS_PROVISIONING_COMPLETE: "OS Provisioning Complete",
    Prov.UPDATING: "Updating",
    Prov.DELETING: "Deleting",
    Prov.SUCCEEDED: "Provisioning succeeded",
    Prov.FAILED: "Provisioning failed",
}

HIBERNATED_CODE = "HibernationState/Hibernated"
HIBERNATED_DISPLAY = "VM hibernated"


class OperationStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
