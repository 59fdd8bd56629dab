"""Free loopback ports for the servers tests and benchmarks start in other processes, chosen
below the kernel's ephemeral range.

A port from `bind(("127.0.0.1", 0))` lies in the ephemeral range (32768-60999 here), the range
the kernel also draws client source ports from. A test that polls such a port until its server
listens can then connect to itself (TCP's simultaneous open: source port = destination port),
read its own `GET /readyz HTTP/1.1` back as the answer, and, while that socket lives, keep the
server from binding its port. Ports below the range cannot meet a client's source port.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOW = 10_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_ports(n: int, *, udp: bool = False) -> list[int]:
    """`n` distinct ports free now on 127.0.0.1 for TCP (and UDP with `udp`), outside the
    ephemeral range."""
    high = _ephemeral_low()
    rng = random.SystemRandom()
    ports: list[int] = []
    while len(ports) < n:
        port = rng.randrange(_LOW, high)
        if port in ports:
            continue
        kinds = (socket.SOCK_STREAM, socket.SOCK_DGRAM) if udp else (socket.SOCK_STREAM,)
        try:
            for kind in kinds:
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        ports.append(port)
    return ports


def free_port() -> int:
    """One free TCP port on 127.0.0.1, outside the ephemeral range."""
    return free_ports(1)[0]
