"""A Node program written for Azure (@azure/identity's DefaultAzureCredential, @azure/arm-* clients, no
endpoint, no certificate setting) drives a VM under `azvm run`: it signs in at login.microsoftonline.com
and talks to management.azure.com, both answered by azvm through its proxy (NODE_EXTRA_CA_CERTS makes
Node trust azvm's authority). The packages come from the cache ./scripts/test fills (`node_modules`)."""

from __future__ import annotations

from pathlib import Path

from azvm.testing import AzvmServer
from tests.conftest import SUB, http_client
from tests.proxy.test_run_env import Live, live  # noqa: F401 (the fixture)

# written for Azure: the default credential (EnvironmentCredential, from what `azvm run` sets), the
# subscription from the environment, no endpoint
PROGRAM = """
import { DefaultAzureCredential } from "@azure/identity";
import { ResourceManagementClient } from "@azure/arm-resources";
import { NetworkManagementClient } from "@azure/arm-network";
import { ComputeManagementClient } from "@azure/arm-compute";

const sub = process.env.AZURE_SUBSCRIPTION_ID;
const cred = new DefaultAzureCredential();
const resources = new ResourceManagementClient(cred, sub);
const network = new NetworkManagementClient(cred, sub);
const compute = new ComputeManagementClient(cred, sub);

await resources.resourceGroups.createOrUpdate("rg", { location: "eastus" });
const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait("rg", "vnet", {
  location: "eastus",
  addressSpace: { addressPrefixes: ["10.0.0.0/16"] },
  subnets: [{ name: "default", addressPrefix: "10.0.0.0/24" }],
});
const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait("rg", "nic", {
  location: "eastus",
  ipConfigurations: [{ name: "ipconfig1", subnet: { id: vnet.subnets[0].id } }],
});
const vm = await compute.virtualMachines.beginCreateOrUpdateAndWait("rg", "vm1", {
  location: "eastus",
  hardwareProfile: { vmSize: "Standard_B2s" },
  storageProfile: { imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server",
                                      version: "latest" } },
  osProfile: { computerName: "vm1", adminUsername: "azure", adminPassword: "Passw0rd!!" },
  networkProfile: { networkInterfaces: [{ id: nic.id }] },
});
const power = async () => (await compute.virtualMachines.instanceView("rg", "vm1")).statuses
  .find((s) => s.code.startsWith("PowerState/")).code;
console.log("created", vm.provisioningState);
console.log("running", await power());
await compute.virtualMachines.beginDeallocateAndWait("rg", "vm1");
console.log("after", await power());
"""


def test_a_node_program_written_for_azure_drives_a_vm_under_azvm_run(live: Live, tmp_path: Path,  # noqa: F811
                                                                      node_modules: Path) -> None:
    # ESM imports resolve from the program's folder (NODE_PATH is not consulted): node_modules beside it
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    (tmp_path / "prog.mjs").write_text(PROGRAM)
    r = live.azvm("run", "--data-dir", str(live.data_dir), "--", "node", str(tmp_path / "prog.mjs"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["created Succeeded", "running PowerState/running",
                                     "after PowerState/deallocated"]
    assert live.proxy.proxy.stats.intercepted == {"login.microsoftonline.com:443", "management.azure.com:443"}
    assert live.proxy.proxy.stats.tunnelled == set()
    vm = f"/subscriptions/{live.server.subscription_id}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"
    assert live.server.arm("GET", f"{vm}/vm1")["properties"]["provisioningState"] == "Succeeded"


def test_the_compute_api_version_of_the_node_sdk_is_served(azvm: AzvmServer) -> None:
    """@azure/arm-compute 24 (the newest for Node 20) sends api-version 2026-03-01, a stable version of
    Microsoft.Compute (azure-rest-api-specs .../Microsoft.Compute/Compute/stable/2026-03-01/ComputeRP.json)."""
    with http_client(azvm) as c:
        r = c.get(f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines",
                  params={"api-version": "2026-03-01"})
    assert r.status_code == 200, r.text
    assert r.json() == {"value": []}
