"""Starting and stopping the lab's processes, by pid, with nothing left behind.

Two ways to start: attached (the pytest fixture: children die with the session, even
when it is killed, through PR_SET_PDEATHSIG) and detached (`cutover lab up`: a double
fork into a new session, so the processes outlive the command that started them).
Every pid is recorded with its start time, so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cutover.errors import PortBusyError

__all__ = [
    "ManagedProcess",
    "alive",
    "allocate_ports",
    "holds_listener",
    "port_is_free",
    "spawn",
    "stop_processes",
    "wait_for_port",
]

_PR_SET_PDEATHSIG = 1


@dataclass
class ManagedProcess:
    name: str
    pid: int
    start_time: str
    log: str
    argv: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _start_time(pid: int) -> str:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19]  # field 22 of stat: start time in clock ticks since boot


def alive(process: ManagedProcess) -> bool:
    """The recorded process still runs (same pid and same start time) and is not a zombie."""
    try:
        stat = Path(f"/proc/{process.pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z" and _start_time(process.pid) == process.start_time


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()


def spawn(
    name: str, argv: Sequence[str], log: Path, *, detach: bool, env: dict[str, str] | None = None
) -> ManagedProcess:
    """Start argv with stdout and stderr into log; detached processes survive this one."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **(env or {})}
    if not detach:
        with open(log, "ab") as sink:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=environment,
                preexec_fn=_die_with_parent,
                close_fds=True,
            )
        return ManagedProcess(name, child.pid, _start_time(child.pid), str(log), list(argv))
    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:  # pragma: no cover - runs in the forked child
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.close(write_end)
                null = os.open(os.devnull, os.O_RDONLY)
                sink_fd = os.open(str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(null, 0)
                os.dup2(sink_fd, 1)
                os.dup2(sink_fd, 2)
                os.closerange(3, 1024)
                os.execvpe(argv[0], list(argv), environment)
            os.write(write_end, str(grandchild).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        pid_text = reader.read()
    os.waitpid(intermediate, 0)
    pid = int(pid_text)
    return ManagedProcess(name, pid, _start_time(pid), str(log), list(argv))


def stop_processes(processes: Sequence[ManagedProcess], timeout: float = 8.0) -> list[str]:
    """SIGTERM every recorded process, SIGKILL what is left after timeout; returns the names still alive."""
    running = [p for p in processes if alive(p)]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(running)
        running = [p for p in running if alive(p)]
        if not running:
            return []
        time.sleep(0.05)
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    time.sleep(0.2)
    _reap(running)
    return [p.name for p in running if alive(p)]


def _reap(processes: Sequence[ManagedProcess]) -> None:
    for process in processes:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(process.pid, os.WNOHANG)


def port_is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def allocate_ports(address: str, count: int, start: int | None = None) -> list[int]:
    """count free ports on address: any free ones, or consecutive ones from start (busy = error)."""
    if start is not None:
        ports = list(range(start, start + count))
        for port in ports:
            if port > 65535:
                raise PortBusyError(f"port range {start}-{start + count - 1} runs past 65535; choose a lower --ports")
            if not port_is_free(address, port):
                raise PortBusyError(
                    f"port {port} on {address} is busy; stop what holds it or choose another --ports start"
                )
        return ports
    return _free_ports_below_ephemeral(address, count)


# Ports the kernel hands to outgoing connections (net.ipv4.ip_local_port_range). A lab port
# chosen there can be taken by any client between the choice and the bind: with hundreds of
# Services (and a proxy's upstream connections) that is a routine busy port, so the lab
# chooses below the range, where only an explicit bind can take a port.
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_LAB_PORT = 10000


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_ports_below_ephemeral(address: str, count: int) -> list[int]:
    low, high = _LOWEST_LAB_PORT, _ephemeral_low()
    if high - low < count * 2:
        low, high = 1024, max(high, 1024 + count * 2)
    # A random start, so that labs started at the same time (parallel test runs) rarely scan
    # the same ports; each candidate is held bound until all are found.
    span = high - low
    offset = random.randrange(span)
    holders: list[socket.socket] = []
    try:
        for step in range(span):
            if len(holders) == count:
                break
            port = low + (offset + step) % span
            holder = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
            try:
                holder.bind((address, port))
            except OSError:
                holder.close()
                continue
            holders.append(holder)
        if len(holders) < count:
            raise PortBusyError(f"fewer than {count} free ports on {address} between {low} and {high}")
        return [h.getsockname()[1] for h in holders]
    finally:
        for holder in holders:
            holder.close()


def holds_listener(pid: int, address: str, port: int) -> bool | None:
    """Whether process `pid` holds the socket listening on address:port (Linux /proc; None where
    it cannot tell). A port chosen free can be taken by another program before the lab's process
    binds it; the port then answers, but for that program, and the lab's process exits (nginx
    only after retrying its bind for seconds)."""
    try:
        listening = _listening_inodes(address, port)
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, ValueError):  # not Linux, no access, or not an IP address
        return None
    if listening is None:
        return None
    held: set[int] = set()
    for fd in fds:
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                held.add(int(link[len("socket:[") : -1]))
    return bool(listening & held)


def _listening_inodes(address: str, port: int) -> set[int] | None:
    """The inodes of the sockets listening on address:port, on the wildcard address, or (for an
    IPv4 address) on a dual-stack IPv6 socket that accepts it."""
    if ":" in address:
        wanted = {"tcp6": {_proc_address(address), _proc_address("::")}}
    else:
        wanted = {
            "tcp": {_proc_address(address), _proc_address("0.0.0.0")},
            "tcp6": {_proc_address("::"), _proc_address(f"::ffff:{address}")},
        }
    found: set[int] = set()
    for table, addresses in wanted.items():
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            if table == "tcp6":
                continue  # a kernel without IPv6
            return None
        for row in rows:
            fields = row.split()
            host, _, hex_port = fields[1].rpartition(":")
            # State 0A is LISTEN.
            if fields[3] == "0A" and int(hex_port, 16) == port and host in addresses:
                found.add(int(fields[9]))
    return found


def _proc_address(address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it: each 32-bit word in the host's byte order."""
    packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    return "".join(f"{word:08X}" for word in struct.unpack(f"={len(packed) // 4}I", packed))


def wait_for_port(address: str, port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((address, port)) == 0:
                return True
        time.sleep(0.05)
    return False
