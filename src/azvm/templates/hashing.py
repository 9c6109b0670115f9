"""`uniqueString`, `guid` and a template hash: the deterministic values ARM derives from strings.

uniqueString: the arguments joined with '-', UTF-8, hashed with the 64-bit Murmur variant of ARM's expression engine
(Azure.Deployments.Expression / Microsoft.PowerPlatform.ResourceStack: two 32-bit lanes, 8-byte blocks), the 64 bits
written as 13 base32 characters (alphabet a-z2-7, five bits at a time from the most significant). The algorithm is
read from public ports of that engine (e.g. the MIT-licensed `ArmFunctions` of EmmittJ Aspire.Hosting.Pulumi.Azure,
which names its source). Values checked in tests/templates/test_hashing.py against values produced by Azure itself:
- uniqueString('/subscriptions/31e9f9a0-.../virtualMachines/bobjacmodm201') = 'yvjxno3je5on2', a value taken from an
  ARM deployment output (microsoft/commercial-marketplace-offer-deploy, test/Tests/UnitTests/ArmFunctionsTests.cs);
- uniqueString('test') = 'rbgf3xv4ufgzg', printed by a program that calls Microsoft's Azure.Deployments.Expression
  package itself (and used by storage accounts named 'stodnsrbgf3xv4ufgzg0' in a published walkthrough).

guid: an RFC 4122 version-5 (SHA-1, name-based) UUID of the '-'-joined arguments in the namespace
11fb06fb-712d-4ddd-98c7-e71bbd588830 (Azure.Deployments.Expression FunctionHelpers.ARMNamespaceGuid). Checked against
guid('test', 'value') = '95b33d6a-06a0-5961-9b94-a0f6c648352b', the value the AzExpression PowerShell module (a thin
wrapper over Azure.Deployments.Expression's `ExpressionBuiltInFunctions`) documents for New-AzGuid.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_C1 = 597399067
_C2 = 2869860233
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
ARM_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 2246822507) & _M32
    h ^= h >> 13
    h = (h * 3266489909) & _M32
    return h ^ (h >> 16)


def murmur64(data: bytes) -> int:
    """The 64-bit Murmur variant of ARM's expression engine (seed 0)."""
    n = len(data)
    h1 = h2 = 0
    i = 0
    while i + 8 <= n:
        k1 = _rotl((int.from_bytes(data[i:i + 4], "little") * _C1) & _M32, 15) * _C2 & _M32
        h1 = (((_rotl(h1 ^ k1, 19) + h2) & _M32) * 5 + 1444728091) & _M32
        k2 = _rotl((int.from_bytes(data[i + 4:i + 8], "little") * _C2) & _M32, 17) * _C1 & _M32
        h2 = (((_rotl(h2 ^ k2, 13) + h1) & _M32) * 5 + 197830471) & _M32
        i += 8
    tail = n - i
    if tail > 0:
        h1 ^= _rotl((int.from_bytes(data[i:i + min(tail, 4)], "little") * _C1) & _M32, 15) * _C2 & _M32
        if tail > 4:
            h2 ^= _rotl((int.from_bytes(data[i + 4:n], "little") * _C2) & _M32, 17) * _C1 & _M32
    h1 ^= n
    h2 ^= n
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M32
    h2 = (h2 + h1) & _M32
    return (h2 << 32) | h1


def unique_string(*parts: str) -> str:
    """ARM's `uniqueString(parts...)`: 13 lowercase base32 characters."""
    h = murmur64("-".join(parts).encode("utf-8"))
    return "".join(_BASE32[((h << (5 * i)) & _M64) >> 59] for i in range(13))


def guid(*parts: str) -> str:
    """ARM's `guid(parts...)`: a version-5 UUID in ARM's namespace, lower case with hyphens."""
    return str(uuid.uuid5(ARM_GUID_NAMESPACE, "-".join(parts)))


def template_hash(template: Any) -> str:
    """A stable decimal hash of a template, shaped like ARM's `templateHash` (a 64-bit unsigned integer in decimal).

    ARM's own algorithm is not published; this is the Murmur hash above over the template's canonical JSON (keys
    sorted, no whitespace), so the same template always gives the same value and any change gives another.
    """
    text = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(murmur64(text.encode("utf-8")))
