"""gateway/memory.py: with freed buffers kept, a request's buffers stop being page-faulted in anew.

Each case runs in its own interpreter: the allocator settings are process-wide. Page faults are counted
(getrusage), never timed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT

# What one request does to memory, 40 times: the gateway's own decode of a photo-sized JPEG, its resize to
# the model's planar input, and the bytes copy the gRPC request gets.
PROGRAM = """
import io, json, resource, sys
from PIL import Image
from gateway.memory import keep_freed_memory

policy = keep_freed_memory(int(sys.argv[1]))
from gateway import images
from gateway.core.config import Settings

buffer = io.BytesIO()
Image.radial_gradient("L").resize((976, 549)).convert("RGB").save(buffer, format="JPEG", quality=90)
data, settings = buffer.getvalue(), Settings()

def one_request():
    photo = images.decode_image(data, settings, draft_size=(512, 512))
    return len(images.to_model_input(photo, (512, 512)).tobytes())

for _ in range(5):
    one_request()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    one_request()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults_per_request": faults / 40, "describe": policy.describe(),
                  "blocks_max": Image.core.get_blocks_max(), "block_size": Image.core.get_block_size()}))
"""


def _run(keep_freed_mb: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(keep_freed_mb)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt and getrusage page faults: glibc Linux")
def test_kept_buffers_are_not_faulted_in_again() -> None:
    default, kept = _run(0), _run(64)
    # The decoded photo, the resized one and the copies are ~5 MB: ~1,200 pages faulted in per request by default.
    assert default["faults_per_request"] > 500, default
    assert kept["faults_per_request"] < default["faults_per_request"] / 10, (kept, default)
    assert kept["blocks_max"] == 16 and kept["block_size"] == 4 * 1024 * 1024
    assert kept["describe"].startswith("memory: keeping up to 64 MiB of freed buffers for reuse (glibc malloc;")
    assert default["blocks_max"] == 0 and "GATEWAY_KEEP_FREED_MB=0" in default["describe"]
