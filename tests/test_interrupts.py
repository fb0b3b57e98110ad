"""Ctrl-C during a board build, as `timeout -s INT` sends it: exit status 130, one line,
no traceback, the earlier build intact byte for byte, no tool process left running."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flows import build
from flows.outputs import STAGING_SUFFIX

from .test_bad_input import snapshot

REPOSITORY = Path(__file__).resolve().parent.parent


def session_processes(session: int) -> list[str]:
    """The processes still alive in `session` (Linux /proc), as 'pid command'."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                alive.append(f"{entry.name} {(entry / 'cmdline').read_bytes()[:80]!r}")
        except (OSError, IndexError, ValueError):
            continue                        # ended while being read
    return alive


def interrupted_build(out: Path, wait_for: str | None, delay: float) -> tuple[int, str, int]:
    """Start an iCEBreaker build into `out` in a session of its own, send SIGINT to the
    build process alone `delay` seconds after its stderr shows `wait_for` (None: after
    start); return (exit status, stderr, session id)."""
    process = subprocess.Popen([sys.executable, "-m", "flows.build", "--board", "icebreaker",
                                "--out", str(out)], cwd=REPOSITORY, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines, seen = [], threading.Event()

    def read():
        for line in process.stderr:
            lines.append(line)
            if wait_for is not None and wait_for in line:
                seen.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if wait_for is not None:
        assert seen.wait(300), "".join(lines)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    status = process.wait(120)
    reader.join(10)
    return status, "".join(lines), process.pid


POINTS = [(None, 1.5),                         # while Python loads PyTorch and Amaranth
          ("golden simulation", 4.0),          # simulating, writing Verilog, the fit
          ("Yosys synth_ice40", 4.0)]          # the tools


@pytest.mark.parametrize("wait_for, longest", POINTS)
def test_ctrl_c_ends_a_board_build_cleanly(tmp_path, wait_for, longest):
    assert_interrupt_is_clean(tmp_path, wait_for, random.Random(wait_for).uniform(0.2, longest))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_ctrl_c_at_random_points_of_a_board_build(tmp_path, seed):
    wait_for, longest = POINTS[seed % len(POINTS)]
    assert_interrupt_is_clean(tmp_path, wait_for, random.Random(seed).uniform(0.0, longest))


def assert_interrupt_is_clean(tmp_path, wait_for, delay):
    out = tmp_path / "board"
    assert build.main(["--golden-only", "--T", "4", "--wait", "2", "--out", str(out)]) == 0
    before = snapshot(tmp_path)
    status, err, session = interrupted_build(out, wait_for, delay)
    assert status == 130, err
    assert "Traceback" not in err
    last = err.rstrip().splitlines()[-1]
    assert last.startswith(f"interrupted; {out} left as it was") or \
        last == "interrupted; nothing was written", err
    deadline = time.monotonic() + 30
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_processes(session) == []
    after = snapshot(tmp_path)
    staging = f"board{STAGING_SUFFIX}"
    assert {k: v for k, v in after.items() if not k.startswith(staging)} == before
    if staging in after:                       # the partial build says where it stopped
        failed = (tmp_path / staging / "FAILED.txt").read_text()
        assert failed.startswith("interrupted (Ctrl-C) during step")
