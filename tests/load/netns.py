"""Hosts on one machine: Linux network namespaces joined by a bridge, each a host with an address of
its own (`ip netns`, `ip link`: iproute2; root only).

    bridge azb<n> 10.<k>.<m>.1/24 (this namespace: the database and the test's clients)
      ├── veth ── namespace azvm-<n>-a: eth0 10.<k>.<m>.2/24
      └── veth ── namespace azvm-<n>-b: eth0 10.<k>.<m>.3/24

A process started through `Hosts.run_in(name)` sees only its host's interfaces (its loopback and
eth0): it reaches the others, and the database, over the bridge as it would over a network.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field


class Unavailable(Exception):
    """Network namespaces cannot be made here (not root, no iproute2, no permission)."""


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Unavailable(f"ip {' '.join(args)}: {r.stderr.strip()}")


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that no route of this machine covers."""
    out = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                         timeout=30).stdout
    taken = []
    for line in out.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unicast") and len(line.split()) > 1:
            word = line.split()[1]
        try:
            taken.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for k in range(213, 250):
        for m in range(0, 256, 17):
            net = ipaddress.IPv4Network(f"10.{k}.{m}.0/24")
            if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
                return net
    raise Unavailable("no free 10.x.y.0/24 subnet")


@dataclass
class Hosts:
    """Hosts named `names` (`a`, `b`, ...) on one bridge; `address[name]` is each one's IP, `gateway` the
    bridge's (this namespace's) IP."""

    names: list[str]
    tag: str = field(default_factory=lambda: str(os.getpid() % 100000))
    address: dict[str, str] = field(default_factory=dict)
    gateway: str = ""
    made: list[tuple[str, ...]] = field(default_factory=list)  # how to undo what was made, newest last

    @property
    def bridge(self) -> str:
        return f"azb{self.tag}"

    def netns(self, name: str) -> str:
        return f"azvm-{self.tag}-{name}"

    def up(self) -> Hosts:
        if os.geteuid() != 0:
            raise Unavailable("network namespaces need root")
        if shutil.which("ip") is None:
            raise Unavailable("no `ip` (iproute2)")
        net = _free_subnet()
        hosts = list(net.hosts())
        self.gateway = str(hosts[0])
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self.made.append(("link", "del", self.bridge))
            _ip("addr", "add", f"{self.gateway}/{net.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, name in enumerate(self.names):
                ns, outer = self.netns(name), f"az{self.tag}{name}"
                _ip("netns", "add", ns)
                self.made.append(("netns", "del", ns))
                _ip("link", "add", outer, "type", "veth", "peer", "name", f"i{outer}")
                self.made.append(("link", "del", outer))
                _ip("link", "set", outer, "master", self.bridge)
                _ip("link", "set", outer, "up")
                _ip("link", "set", f"i{outer}", "netns", ns, "name", "eth0")
                self.address[name] = str(hosts[i + 1])
                _ip("-n", ns, "addr", "add", f"{self.address[name]}/{net.prefixlen}", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except Unavailable:
            self.down()
            raise
        return self

    def down(self) -> None:
        while self.made:
            subprocess.run(["ip", *self.made.pop()], capture_output=True, timeout=30)
