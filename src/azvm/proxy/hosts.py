"""The Azure hosts that azvm answers as, through the proxy of `azvm run` / `azvm env`: Resource
Manager, Microsoft Entra ID's login host, and the classic management host (the audience Azure clients
ask tokens for). The authority's name constraints (azvm.tls) and the server's own names (azvm.guard)
both come from here."""

from __future__ import annotations

AZURE_HOSTS: tuple[str, ...] = ("management.azure.com", "login.microsoftonline.com", "management.core.windows.net")
