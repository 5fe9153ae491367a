"""A readers–writer lock: many searches at once, one index update alone.

The search index is read by every request thread of a worker and written only
by the KB catch-up's append. A plain mutex made two request threads of one
worker take turns through a whole search (retrieve + fuse + highlight, several
ms; the ``search_lock`` phase showed waits of up to 25 ms under load) although
FAISS and numpy searches may run side by side. Writers are preferred: once an
update waits, new readers queue behind it, so a steady stream of searches can
never starve the catch-up.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager


class ReadWriteLock:
    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self):
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
