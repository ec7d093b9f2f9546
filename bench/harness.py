"""What the bench harnesses (bench/*.py) share: a log line on stderr and a free loopback port. Imported by name:
each harness runs as a script, so bench/ is on sys.path."""
import socket
import sys


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    """A TCP port on 127.0.0.1 that nothing is bound to now (the kernel's choice; free until someone takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
