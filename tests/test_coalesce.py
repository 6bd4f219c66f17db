"""Coalescing the live recorders' points (recorders/coalesce.py): the table's rows and
the JSON packets go out several points to a Door event when points come faster than
COALESCE_GAP, every point delivered, in order."""

from __future__ import annotations

import time

from json_feed_helpers import Collector, make_info, make_point

from macroserver.recorders.base import RecorderContext
from macroserver.recorders.coalesce import COALESCE_GAP, COALESCE_LIMIT, Coalescer
from macroserver.recorders.json import JsonRecorder
from macroserver.recorders.manager import _Worker
from macroserver.recorders.output import OutputRecorder
from macroserver.records import EndStatus, ScanEnd


def test_coalescer_sends_a_lone_item_at_once_holds_the_rest_up_to_its_limit() -> None:
    coalescer: Coalescer[int] = Coalescer(gap=3600.0, limit=4)  # only the limit sends
    sent = [coalescer.add(i) for i in range(10)]
    assert sent[0] == [0]  # nothing went out before: at once
    assert [batch for batch in sent[1:] if batch] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert coalescer.take() == [9] and coalescer.take() == []

    eager: Coalescer[int] = Coalescer(gap=0.0)  # no gap: every item at once
    assert [eager.add(i) for i in range(3)] == [[0], [1], [2]]

    paused: Coalescer[int] = Coalescer(gap=3600.0)
    paused.sent()  # a block went out by another way: the next item waits
    assert paused.add(0) == [] and paused.take() == [0]


def _table_rows(messages: list[tuple[str, str]]) -> list[list[int]]:
    """The point numbers of the table rows in each Output message (one list a message;
    messages without rows left out)."""
    events = [[int(line.split()[0]) for line in text.split("\n")
               if line.split() and line.split()[0].isdigit()] for _, text in messages]
    return [rows for rows in events if rows]


def test_table_rows_faster_than_the_gap_share_an_event_every_row_in_order() -> None:
    collector = Collector()
    recorder = OutputRecorder(RecorderContext(listener=collector))
    info = make_info(npoints=None, image=False)
    recorder.start(info)
    for index in range(600):  # back to back, as a scan at integration time 0
        recorder.record(make_point(info, index))
    recorder.flush()  # the manager's worker calls it once the queue ran empty
    before = len(collector.messages)
    time.sleep(2 * COALESCE_GAP)
    recorder.record(make_point(info, 600))
    assert len(collector.messages) == before + 1  # after a pause: at once, not held
    recorder.end(ScanEnd(EndStatus.DONE, time.time(), 601))

    events = _table_rows(collector.messages)
    assert [row for rows in events for row in rows] == list(range(601))
    assert events[0] == [0]  # the first row does not wait
    assert max(len(rows) for rows in events) > 1  # coalesced
    assert max(len(rows) for rows in events) <= COALESCE_LIMIT
    assert events[-1] == [600]
    assert collector.messages[-1][1].startswith("Scan #7 ended")  # after every row


def test_rows_held_back_go_out_once_the_recorder_is_idle() -> None:
    """Through the recorder manager's worker, without the end of the scan: the rows
    that waited are flushed within the gap of the queue running empty (not only at the
    scan's end), and likewise the JSON packets."""
    collector = Collector()
    info = make_info(npoints=None, image=False)
    workers = [_Worker(OutputRecorder(RecorderContext(listener=collector)), False, collector),
               _Worker(JsonRecorder(RecorderContext(listener=collector)), False, collector)]
    for worker in workers:
        worker.launch()
        worker.put(info, 10.0)
        for index in range(50):
            worker.put(make_point(info, index), 10.0)
    for worker in workers:
        assert worker.wait_idle(10.0) and worker.failure is None  # flushed, not ended
    assert [row for rows in _table_rows(collector.messages) for row in rows] == list(range(50))
    assert [p["data"]["point_nb"] for p in collector.per_point()[1:]] == list(range(50))
    for worker in workers:
        worker.put(ScanEnd(EndStatus.DONE, time.time(), 50), 10.0)
        worker.join(10.0)
