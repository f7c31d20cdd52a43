"""The auditor's ordered fetching ahead (tanji.protocol.ahead.in_order, used by reexecution): the
bytes come in the order asked, never more than the window is in flight, a fetch's error is raised where its
bytes were due, and a reader that stops early leaves nothing fetching."""
import threading
import time

import pytest

from tanji.protocol.ahead import in_order


class Fetcher:
    def __init__(self, fail: bytes | None = None):
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.fetched: list[bytes] = []
        self.fail = fail

    def __call__(self, digest: bytes) -> bytes:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.01 * (digest[0] % 3))  # out-of-order completions
        with self.lock:
            self.running -= 1
            self.fetched.append(digest)
        if digest == self.fail:
            raise KeyError(digest.hex())
        return digest * 2


DIGESTS = [bytes([i]) for i in range(20)]


@pytest.mark.parametrize("ahead", [0, 1, 4])
def test_the_bytes_come_in_the_order_asked_and_the_window_is_kept(ahead):
    fetch = Fetcher()
    assert list(in_order(fetch, DIGESTS, ahead)) == [d * 2 for d in DIGESTS]
    assert fetch.most == max(ahead, 1)
    assert sorted(fetch.fetched) == DIGESTS


def test_a_failed_fetch_is_raised_where_its_bytes_were_due():
    got = []
    with pytest.raises(KeyError):
        for data in in_order(Fetcher(fail=DIGESTS[5]), DIGESTS, 4):
            got.append(data)
    assert got == [d * 2 for d in DIGESTS[:5]]


def test_a_reader_that_stops_early_leaves_the_rest_unfetched():
    fetch = Fetcher()
    reader = in_order(fetch, DIGESTS, 4)
    assert [next(reader) for _ in range(3)] == [d * 2 for d in DIGESTS[:3]]
    reader.close()
    assert len(fetch.fetched) <= 3 + 4 and fetch.running == 0
