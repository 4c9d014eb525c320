"""Keep freed buffers mapped for the next request instead of handing them back to the kernel.

Every request allocates a few MB of short-lived buffers: the decoded photo, the resized one, the planar model
input and its gRPC copies, the answer. glibc's malloc serves blocks that large with fresh `mmap`s, or trims them
off its heap when freed, and Pillow frees image memory at once (its block cache holds none by default). So each
request would page-fault its buffers in again (the measured cost: docs/performance.md, "The gateway keeps freed
buffers mapped"; tests/gateway/test_memory.py counts the faults).

`keep_freed_memory(mb)` therefore (once, at startup):
- raises glibc's mmap threshold to 32 MiB (its own dynamic maximum), so per-request buffers come from the
  heap, and its trim threshold to `mb` MiB, so up to that much freed memory stays mapped for reuse, and
  makes every thread allocate from the one main arena, so that is all it keeps (`mallopt`; skipped, and
  said so, where the C library is not glibc);
- lets Pillow's block allocator keep up to `mb` MiB of freed image blocks (4 MiB each).

Buffers over 32 MiB (an all-results JSON answer) still come and go with their own `mmap`. The price is
resident memory: up to about 2 × `mb` MiB more after a peak than before it. `GATEWAY_KEEP_FREED_MB=0`
leaves both allocators as they are.

A burst of large answers (scores at a photo's own size, batches) leaves much more than that resident: blocks
under the mmap threshold spread over the arenas of the worker threads (glibc trims a heap only from its top),
and Pillow's kept blocks. ``FreedMemoryReleaser.release`` runs whenever the last inference request has been
answered: when the process's RSS is more than ``RELEASE_ABOVE_MIB`` over its idle level (the lowest RSS seen
when idle), it empties Pillow's block cache and hands every free page back (``malloc_trim(0)``), in a thread,
so the RSS returns near its idle level without waiting for more traffic (tests/gateway/hardening/
test_abuse.py). Ordinary traffic stays under that margin and keeps its buffers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from dataclasses import dataclass

from PIL import Image

log = logging.getLogger("gateway.memory")

MIB = 1024 * 1024
MMAP_THRESHOLD = 32 * MIB
PILLOW_BLOCK_SIZE = 4 * MIB
# RSS over the idle level past which free memory is handed back once idle.
RELEASE_ABOVE_MIB = 64
# mallopt parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


@dataclass(frozen=True)
class MemoryPolicy:
    keep_freed_mb: int
    malloc: bool  # glibc's thresholds were set
    pillow_blocks: int  # Pillow keeps up to this many freed blocks of PILLOW_BLOCK_SIZE

    def describe(self) -> str:
        if not self.keep_freed_mb:
            return "memory: freed buffers go back to the kernel (GATEWAY_KEEP_FREED_MB=0)"
        malloc = "glibc malloc" if self.malloc else "not glibc malloc (no mallopt; its defaults stay)"
        return (
            f"memory: keeping up to {self.keep_freed_mb} MiB of freed buffers for reuse "
            f"({malloc}; Pillow {self.pillow_blocks} blocks of {PILLOW_BLOCK_SIZE // MIB} MiB)"
        )


def keep_freed_memory(keep_freed_mb: int) -> MemoryPolicy:
    if keep_freed_mb <= 0:
        return MemoryPolicy(0, malloc=False, pillow_blocks=0)
    # One arena for every thread: the worker threads' own arenas (64 MiB heaps) would each keep up to the trim
    # threshold at their top, which glibc hands back only on a free() in that arena, never on malloc_trim.
    malloc = (
        _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        and _mallopt(_M_TRIM_THRESHOLD, keep_freed_mb * MIB)
        and _mallopt(_M_ARENA_MAX, 1)
    )
    blocks = max(1, keep_freed_mb * MIB // PILLOW_BLOCK_SIZE)
    Image.core.set_block_size(PILLOW_BLOCK_SIZE)
    Image.core.set_blocks_max(blocks)
    return MemoryPolicy(keep_freed_mb, malloc=malloc, pillow_blocks=blocks)


def _mallopt(parameter: int, value: int) -> bool:
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(parameter, value))


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class FreedMemoryReleaser:
    """Hands free memory back to the kernel once idle, after a burst took the RSS well over its idle level."""

    def __init__(self, above_mib: int = RELEASE_ABOVE_MIB) -> None:
        name = ctypes.util.find_library("c")
        try:
            trim = ctypes.CDLL(name).malloc_trim if name else None
        except (OSError, AttributeError):
            trim = None
        if trim is not None:
            trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
        self._trim = trim
        self.margin = above_mib * MIB
        self.idle_rss = resident_bytes()
        self._busy = threading.Lock()
        self.releases = 0

    def release(self) -> None:
        """Non-blocking; called when the gateway has just become idle."""
        rss = resident_bytes()
        if not rss:
            return
        if rss < self.idle_rss:
            self.idle_rss = rss
        if rss > self.idle_rss + self.margin and not self._busy.locked():
            threading.Thread(target=self._release, args=(rss,), name="release-memory", daemon=True).start()

    def _release(self, before: int) -> None:
        if not self._busy.acquire(blocking=False):
            return
        try:
            Image.core.clear_cache()
            if self._trim is not None:
                self._trim(0)
            self.releases += 1
            log.info(
                "memory: handed free memory back after a burst (RSS %d MiB -> %d MiB; idle level %d MiB)",
                before // MIB,
                resident_bytes() // MIB,
                self.idle_rss // MIB,
            )
        finally:
            self._busy.release()
