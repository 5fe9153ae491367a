"""foundation.rwlock: readers overlap, a writer is alone and is not starved."""
from __future__ import annotations

import threading
import time

from foundation.rwlock import ReadWriteLock


def test_readers_overlap_and_a_writer_excludes_them():
    lock = ReadWriteLock()
    inside, most, log = [0], [0], []
    guard = threading.Lock()

    def reader():
        with lock.read():
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1

    def writer():
        with lock.write():
            with guard:
                log.append(inside[0])
            time.sleep(0.02)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.01)
    w = threading.Thread(target=writer)
    w.start()
    for t in threads + [w]:
        t.join(5)
    assert most[0] >= 2          # searches ran side by side
    assert log == [0]            # the update saw no reader inside


def test_a_waiting_writer_is_not_starved_by_new_readers():
    lock = ReadWriteLock()
    stop = threading.Event()
    wrote = threading.Event()

    def reader():
        while not stop.is_set():
            with lock.read():
                time.sleep(0.005)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    time.sleep(0.02)

    def writer():
        with lock.write():
            wrote.set()

    threading.Thread(target=writer).start()
    assert wrote.wait(2.0), "a stream of readers starved the writer"
    stop.set()
    for t in readers:
        t.join(5)
