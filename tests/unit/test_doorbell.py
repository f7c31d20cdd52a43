"""The long poll (tanji.coordinator.doorbell): a waiting pull answers when a commit rings, not after
a polling back-off; it gives up at its deadline or when its caller has gone; at most `slots` wait."""
import threading
import time

from tanji.coordinator.doorbell import Doorbell


def test_a_ring_answers_a_waiting_pull_at_once():
    bell, queue = Doorbell(), []

    def deliver():
        time.sleep(0.2)
        queue.append("envelope")
        bell.ring()

    threading.Thread(target=deliver).start()
    began = time.monotonic()
    assert bell.hold(lambda: list(queue), 5.0, shared=False) == ["envelope"]
    assert time.monotonic() - began < 2.0          # woken by the ring, not by its 5 s deadline


def test_an_empty_queue_is_answered_at_the_deadline_or_when_the_caller_leaves():
    bell = Doorbell()
    began = time.monotonic()
    assert bell.hold(list, 0.3, shared=False) == []
    assert 0.3 <= time.monotonic() - began < 2.0
    began = time.monotonic()
    assert bell.hold(list, 5.0, shared=False, alive=lambda: False) == []
    assert time.monotonic() - began < 0.5


def test_a_shared_database_is_re_read_without_a_ring():
    """Replicas do not hear each other's rings: the queue is re-read every quarter second."""
    bell, queue = Doorbell(), []
    threading.Timer(0.3, lambda: queue.append("from another replica")).start()
    assert bell.hold(lambda: list(queue), 5.0, shared=True) == ["from another replica"]


def test_beyond_its_slots_a_pull_is_answered_at_once():
    bell = Doorbell(slots=1)
    waiting = threading.Thread(target=bell.hold, args=(list, 1.0, False))
    waiting.start()
    time.sleep(0.1)
    began = time.monotonic()
    assert bell.hold(list, 1.0, shared=False) == []
    assert time.monotonic() - began < 0.2
    waiting.join()
