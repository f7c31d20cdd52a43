"""A party process dies with the process that started it, even when that one is SIGKILLed."""
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

PARENT = """
import subprocess, sys, time
from tanji.infra import lifeline
CHILD = "from tanji.infra import lifeline; lifeline.arm(); import time; print('armed', flush=True); time.sleep(120)"
child = subprocess.Popen([sys.executable, "-c", CHILD], env=lifeline.child_environment(), stdout=sys.stdout)
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has died
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_child_armed_from_its_environment_dies_with_its_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert parent.stdout is not None
    try:
        lines = {parent.stdout.readline().strip() for _ in range(2)}
        assert "armed" in lines, lines
        child = int((lines - {"armed"}).pop())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), "the child outlived its SIGKILLed parent"
    finally:
        parent.kill()
