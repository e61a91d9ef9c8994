"""Power loss, simulated (issue 12): a short version of bench/powercut.py.

hydrant runs under tests/faults/libhyfault.so, which takes back every byte
and directory entry not yet made durable at a random I/O call and kills the
process there; the loop restarts it under load on what is left. After the
cuts, every acknowledged record must be delivered exactly once, no record
twice, and every acknowledged S3 PUT must be readable with its bytes.
"""
import os

import pytest

import powercut

CUTS = int(os.environ.get("HYDRANT_POWERCUTS", "12"))


@pytest.mark.skipif(not os.path.exists(powercut.LIB), reason="build/libhyfault.so not built")
@pytest.mark.parametrize("seed", [7])
def test_power_cuts_lose_nothing_acknowledged(tmp_path, seed):
    stats, problems = powercut.run_cuts(str(tmp_path / "data"), str(tmp_path / "log"),
                                        CUTS, seed=seed, say=None)
    assert stats["cuts"] >= CUTS // 2, stats
    assert stats["acknowledged"] > 1000, stats
    assert problems == [], (problems, stats)


SWEEP_POINTS = [int(x) for x in os.environ.get("HYDRANT_SWEEP_POINTS", "").split(",") if x]


@pytest.mark.skipif(not os.path.exists(powercut.LIB), reason="build/libhyfault.so not built")
@pytest.mark.parametrize("err", ["EIO", "ENOSPC", "SHORT"])
def test_io_fault_sweep_sample(tmp_path, err):
    """A sample of bench/powercut.py --sweep: the fixed scenario with one
    I/O call failing, at call indices spread over the whole run."""
    calls = powercut.count_calls(str(tmp_path / "count"), str(tmp_path / "log"))
    assert calls > 50
    points = SWEEP_POINTS or [max(1, calls * k // 6) for k in range(1, 6)]
    problems = []
    for n in points:
        p, ended = powercut.sweep_one(str(tmp_path / ("d%d" % n)), str(tmp_path / "log"), n, err)
        problems += ["call %d: %s (%s)" % (n, x, ended) for x in p]
    assert problems == []


@pytest.mark.skipif(not os.path.exists(powercut.LIB), reason="build/libhyfault.so not built")
def test_every_directory_sync_at_start_may_fail(tmp_path):
    """Each directory fsync of a fresh start fails in turn (EIO), then the
    scenario, a power cut at exit and a clean restart: nothing acknowledged
    is lost. SQLite ignores a failure of its own directory sync after it
    makes a -wal file; the catalogs' own checked fsync of that directory is
    what keeps their commits (without it, one of these calls lost every
    object row)."""
    calls = powercut.dir_syncs_at_start(str(tmp_path / "count"), str(tmp_path / "count.log"))
    assert len(calls) >= 5, calls
    problems = []
    for n in calls:
        p, ended = powercut.sweep_one(str(tmp_path / ("d%d" % n)), str(tmp_path / "log"), n,
                                      "EIO")
        problems += ["call %d: %s (%s)" % (n, x, ended) for x in p]
    assert problems == []
