"""Ports for the servers the tests start on 127.0.0.1 (slapd, sshd)."""
import random
import socket


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that is free now, chosen below the kernel's ephemeral range: a
    port the kernel handed out for bind(0) may be taken again as the local port of any
    outgoing connection before the server binds it (the suites run at once, and make many),
    and the server then fails to start."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(10000, max(10001, low - 1))
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
