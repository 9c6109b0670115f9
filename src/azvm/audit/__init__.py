"""`azvm audit`: find the VMs a subscription pays for without using, and deallocate them.

A client of Azure Resource Manager like any other (the official SDK and the standard credential
chain), pointed at Azure or at azvm; it uses azvm's pure billing package for rule sets and prices,
and nothing of the emulator. Light to import: the SDK loads when an audit runs (docs/audit.md).
"""

from .args import add_audit_parser

__all__ = ["add_audit_parser"]
