"""The HE worker is there only while needed (tanji.infra.workers): started by the first task or a
warm-up, stopped once idle, never while a task runs. Plumbing only: a thread pool stands in for
the worker process."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tanji.infra.workers import OnDemandWorkers


def workers(idle: float) -> tuple[OnDemandWorkers, list]:
    started: list = []

    def start():
        started.append(ThreadPoolExecutor(max_workers=1))
        return started[-1]
    return OnDemandWorkers(start, idle_seconds=idle), started


def test_started_on_demand_and_stopped_when_idle():
    w, started = workers(0.3)
    assert not w.running and started == []
    assert w.submit(pow, 2, 10).result() == 1024
    assert w.running and len(started) == 1
    assert not w.reap()                     # just used
    time.sleep(0.4)
    w.reap()                                # (or its reaper thread already did)
    assert not w.running
    assert w.submit(pow, 3, 2).result() == 9 and len(started) == 2   # a new calculation starts it again
    w.shutdown()


def test_never_stopped_under_a_running_task():
    w, _ = workers(0.1)
    gate = threading.Event()
    task = w.submit(gate.wait, 5)
    time.sleep(0.3)
    assert not w.reap() and w.running
    gate.set()
    assert task.result() is True
    w.shutdown()


def test_warm_starts_it_without_waiting_and_the_reaper_stops_it():
    w, started = workers(0.2)
    w.warm()
    assert w.running and len(started) == 1
    deadline = time.monotonic() + 6
    while w.running and time.monotonic() < deadline:   # the reaper thread looks every min(5, idle) s
        time.sleep(0.05)
    assert not w.running
    w.shutdown()
