"""The memory benchmark's measure: RSS and PSS summed over a process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sdptools.bench.cloud import MemorySampler, tree_memory_mb


def test_a_childs_memory_is_counted_and_shared_pages_count_once() -> None:
    alone_rss, alone_pss = tree_memory_mb(os.getpid())
    assert 0 < alone_pss <= alone_rss
    # a child that holds 200 MB of its own: both sums grow by about that much
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; b = bytearray(200 * 2**20); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # measured once the child holds all of it: sampled while it still grows, RSS and
        # PSS (read one after the other) would not describe the same moment
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while True:
            rss, pss = tree_memory_mb(os.getpid())
            if pss - alone_pss > 190 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert pss - alone_pss > 190
        assert rss - alone_rss > 190
        # the child's interpreter pages are shared with this one: its RSS counts them
        # whole, its PSS only its share (measured on the child alone: this process's own
        # memory moves with whatever the test run did before)
        child_rss, child_pss = tree_memory_mb(child.pid)
        assert child_rss - child_pss > 0.5
    finally:
        child.kill()
        child.wait()


def test_the_sampler_keeps_the_peaks() -> None:
    with MemorySampler() as memory:
        time.sleep(1.2)
    assert 0 < memory.peak_mb <= memory.peak_rss_mb
