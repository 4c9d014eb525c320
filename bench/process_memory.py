"""Memory of the serving processes, read from /proc: who listens on a port, its children, their RSS and PSS.

The stack is identified by the ports it listens on rather than by process names, because other
stacks (tests, other people's experiments) may run on the same machine at the same time.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TCP_LISTEN = "0A"


def listening_pid(port: int) -> int | None:
    """The pid of the process holding a listening TCP socket on ``port`` (any address), if visible."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in _pids():
        fd_dir = PROC / str(pid) / "fd"
        try:
            for fd in fd_dir.iterdir():
                try:
                    if os.readlink(fd) in targets:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (tritonserver → its python backend stubs)."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        parent = _ppid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 if it is gone or unreadable): its private pages plus its share of
    the pages it shares. Unlike RSS, the PSS of several processes adds up to the memory they take together (the
    Python stubs share the interpreter's and the libraries' pages)."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def stack_pss(roots: dict[str, int]) -> dict:
    """The PSS of each labelled process tree (label -> root pid) and of all of them together, in MB."""
    trees: dict[str, dict] = {}
    total = 0
    for label, root in roots.items():
        tree = process_tree(root)
        sizes = {pid: pss_bytes(pid) for pid in tree}
        total += sum(sizes.values())
        trees[label] = {
            "pss_mb": round(sum(sizes.values()) / 2**20, 1),
            "processes": _count_names([command_name(pid) for pid in tree]),
            "per_process_mb": {
                f"{command_name(pid)}[{pid}]": round(size / 2**20, 1) for pid, size in sorted(sizes.items())
            },
        }
    return {"total_pss_mb": round(total / 2**20, 1), "trees": trees}


def command_name(pid: int) -> str:
    """The program's file name (``comm`` is cut at 15 characters: triton_python_b...)."""
    try:
        argv0 = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return "?"
    return Path(argv0).name or "?"


def _count_names(names: list[str]) -> str:
    counts = Counter(names)
    return ", ".join(name if n == 1 else f"{n}x {name}" for name, n in sorted(counts.items()))


@dataclass
class RssSampler:
    """Samples the RSS of named process trees in the background; keeps each tree's peak total.

    Peaks (not a final snapshot) because "under load" is what matters: a response's arrays are
    freed as soon as it is sent.
    """

    roots: dict[str, int]  # label → root pid
    interval_s: float = 0.25
    peak_bytes: dict[str, int] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for label, root in self.roots.items():
            tree = process_tree(root)
            total = sum(rss_bytes(pid) for pid in tree)
            if total >= self.peak_bytes.get(label, 0):
                self.peak_bytes[label] = total
                self.members[label] = _count_names([command_name(pid) for pid in tree])

    def __enter__(self) -> RssSampler:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.sample()

        self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def report(self) -> dict[str, dict]:
        return {
            label: {
                "peak_rss_mb": round(self.peak_bytes.get(label, 0) / 2**20, 1),
                "processes": self.members.get(label, ""),
            }
            for label in self.roots
        }


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def _ppid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes
