"""The queue between a scan and a recorder (recorders/pointqueue.py): its bounds, its
timeouts and its wake-ups across threads, which the recorder manager relies on."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from macroserver.recorders.pointqueue import PointQueue


def test_order_and_both_bounds():
    q: PointQueue[str] = PointQueue(3, 100)
    q.put(("a", 10), block=False)
    q.put(("b", 10), block=False)
    q.put(("c", 10), block=False)
    with pytest.raises(queue.Full):  # 3 items
        q.put(("d", 10), block=False)
    assert [q.get(), q.get()] == ["a", "b"]
    q.put(("big", 500), block=False)  # below the byte bound when put: goes in
    with pytest.raises(queue.Full):  # 510 bytes waiting
        q.put(("e", 1), block=False)
    assert q.get_nowait() == "c" and q.get_nowait() == "big"
    assert q.bytes == 0 and q.unfinished_tasks == 4  # put, none task_done yet
    with pytest.raises(queue.Empty):
        q.get_nowait()


def test_timeouts_end_the_waits():
    q: PointQueue[int] = PointQueue(1, 100)
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    q.put((1, 1))
    with pytest.raises(queue.Full):
        q.put((2, 1), timeout=0.05)
    assert time.monotonic() - started >= 0.1
    assert q.get() == 1


def test_a_sleeping_getter_and_a_waiting_putter_are_woken():
    q: PointQueue[int] = PointQueue(2, 1 << 20)
    got: list[int] = []

    def consume() -> None:
        while (item := q.get(timeout=10)) >= 0:
            got.append(item)
            q.task_done()
        q.task_done()

    thread = threading.Thread(target=consume)
    thread.start()
    for i in range(2000):  # the getter sleeps and is woken many times; a full queue
        q.put((i, 1), timeout=10)  # makes this thread wait for it as well
        if i % 500 == 0:
            time.sleep(0.01)  # it has gone to sleep: the next put must wake it
    q.put((-1, 1), timeout=10)
    thread.join(10)
    assert got == list(range(2000)) and q.unfinished_tasks == 0


def test_the_last_task_done_wakes_who_waits_for_idle():
    q: PointQueue[int] = PointQueue(4, 100)
    q.put((1, 1))
    done = threading.Event()

    def wait_idle() -> None:
        with q.all_tasks_done:
            q.idle_waiters += 1
            while q.unfinished_tasks:
                q.all_tasks_done.wait(10)
            q.idle_waiters -= 1
        done.set()

    waiter = threading.Thread(target=wait_idle)
    waiter.start()
    assert q.get() == 1
    time.sleep(0.02)
    assert not done.is_set()
    q.task_done()
    assert done.wait(5)  # notified: its wait(10) had not timed out
    waiter.join(5)
