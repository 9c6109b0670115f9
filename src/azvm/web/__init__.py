"""The dashboard: a resource explorer and a live view of the fleet, served by `azvm serve` at `/`.

The page (`index.html`, `static/`) ships inside the package: no build step, nothing fetched from
the network. `azvm.web.asgi` serves it and feeds it (docs/dashboard.md).
"""

from .asgi import Dashboard, mount

__all__ = ["Dashboard", "mount"]
