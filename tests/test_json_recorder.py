"""JsonRecorder: packet order, values, strict JSON, array descriptions, end status."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from json_feed_helpers import Collector, make_info, make_point, run_scan

from macroserver.recorders.base import RecorderContext
from macroserver.recorders.json import (
    COALESCE_GAP,
    CODEC,
    MAX_INLINE_VALUES,
    SCHEMA_VERSION,
    JsonRecorder,
)
from macroserver.records import EndStatus, Point, ScanEnd, Written


def _recorder() -> tuple[JsonRecorder, Collector]:
    collector = Collector()
    return JsonRecorder(RecorderContext(listener=collector)), collector


@pytest.mark.parametrize("status", list(EndStatus))
def test_packet_sequence_and_values(status: EndStatus) -> None:
    recorder, collector = _recorder()
    info = make_info(npoints=5)
    run_scan(recorder, info, 4, status=status, reason="" if status is EndStatus.DONE else "why")

    assert {codec for codec, _ in collector.packets} == {CODEC}
    packets = collector.per_point()  # points fed back to back are coalesced into blocks
    assert [p["type"] for p in packets] == ["data_desc"] + ["record_data"] * 4 + ["record_end"]
    assert all(p["macro_id"] == "macro-42" for p in packets)
    assert all(p["schema_version"] == SCHEMA_VERSION for p in packets)

    records = [p["data"] for p in packets[1:-1]]
    assert [r["point_nb"] for r in records] == [0, 1, 2, 3]
    for index, record in enumerate(records):
        expected = make_point(info, index)
        assert record["mot01"] == pytest.approx(float(expected["mot01"]))
        assert record["ct01"] == pytest.approx(float(expected["ct01"]))
        assert record["ct02"] == pytest.approx(float(expected["ct02"]))
        assert record["dt"] == pytest.approx(expected["dt"])
        assert record["mca01"] == {"shape": [256], "ref": None,
                                   "values": expected["mca01"].tolist()}
        assert set(record) == {c.name for c in info.columns} | {"point_nb"}

    end = packets[-1]["data"]
    assert end["status"] == str(status)
    assert end["points"] == 4
    assert end["reason"] == ("" if status is EndStatus.DONE else "why")
    assert end["deadtime"] >= 0.0
    assert isinstance(end["endtime"], str)


def test_points_coalesced_when_faster_than_the_gap_and_each_keeps_its_time() -> None:
    """Points closer than COALESCE_GAP go out together (one event), none lost; a point
    after a pause goes out at once; every point carries the time it was taken."""
    recorder, collector = _recorder()
    info = make_info(npoints=30, image=False)
    recorder.start(info)
    taken = []
    for index in range(20):  # back to back: the first at once, the rest coalesced
        point = make_point(info, index)
        taken.append(point.timestamp)
        recorder.record(point)
    recorder.flush()  # the manager's worker calls it once the queue ran empty
    sent = len(collector.packets)
    time.sleep(2 * COALESCE_GAP)
    late = make_point(info, 20)
    taken.append(late.timestamp)
    recorder.record(late)
    assert len(collector.packets) == sent + 1  # after a pause: at once, not held
    recorder.end(ScanEnd(EndStatus.DONE, time.time(), 21))

    packets = collector.decoded()
    kinds = [p["type"] for p in packets]
    assert kinds[:3] == ["data_desc", "record_data", "record_block"]
    assert kinds[3:] == ["record_data", "record_end"]
    assert packets[2]["data"]["point_nb"] == list(range(1, 20))
    points = collector.per_point()[1:-1]
    assert [p["data"]["point_nb"] for p in points] == list(range(21))
    assert [p["taken"] for p in points] == pytest.approx(taken)


def test_no_coalescing_for_clients_of_sardanas_packets_only() -> None:
    collector = Collector()
    recorder = JsonRecorder(RecorderContext(listener=collector,
                                            env={"JsonRecordBlocks": False}))
    info = make_info(npoints=5, image=False)
    run_scan(recorder, info, 5)
    kinds = [p["type"] for p in collector.decoded()]
    assert kinds == ["data_desc"] + ["record_data"] * 5 + ["record_end"]


def test_data_desc_fields() -> None:
    recorder, collector = _recorder()
    info = make_info(npoints=11, scan_dir=Path("/data/exp"), scan_files=("s.dat", "s.h5"))
    recorder.start(info)
    recorder.end(ScanEnd(EndStatus.DONE, time.time(), 0))
    desc = collector.decoded()[0]["data"]

    assert [c["name"] for c in desc["column_desc"]] == [c.name for c in info.columns]
    by_name = {c["name"]: c for c in desc["column_desc"]}
    assert by_name["ct02"]["label"] == "ct 02"
    assert by_name["ct01"]["plot_type"] == 1
    assert by_name["mca01"]["shape"] == [256]
    assert by_name["img01"]["shape"] == [251, 251]
    assert by_name["img01"]["value_ref_enabled"] is True
    assert by_name["mca01"]["value_ref_enabled"] is False
    assert by_name["mot01"]["is_reference"] is True
    assert by_name["mot02"]["is_reference"] is False
    assert by_name["mot01"]["data_units"] == "mm"
    assert desc["ref_moveables"] == ["mot01", "mot02"]
    assert desc["total_scan_intervals"] == 10
    assert desc["serialno"] == 7
    assert desc["title"] == info.title
    assert desc["counters"] == ["ct01", "ct02", "mca01", "img01"]
    assert desc["scanfile"] == ["s.dat", "s.h5"]
    assert desc["scandir"] == "/data/exp"
    assert desc["starttime"] == time.ctime(info.start_time)


def test_unknown_npoints_gives_null_intervals() -> None:
    recorder, collector = _recorder()
    recorder.start(make_info(npoints=None))
    assert collector.decoded()[0]["data"]["total_scan_intervals"] is None


def test_images_and_long_spectra_are_described_by_shape() -> None:
    """`ref` and `entry` are where the NeXus recorder said it wrote (here a diverted
    file and a second entry of the scan's number), not names recomputed from ScanFile."""
    recorder, collector = _recorder()
    written = (Written(Path("/d/a.dat"), "SPEC", scan_number=7),
               Written(Path("/d/a_7.nxs"), "NeXus", entry="entry7_2"))
    info = dataclasses.replace(
        make_info(spectrum_len=MAX_INLINE_VALUES + 1, scan_dir=Path("/d"),
                  scan_files=("a.dat", "a.nxs")), written=written)
    run_scan(recorder, info, 2)
    desc, record = (packet["data"] for packet in collector.decoded()[:2])
    assert desc["written"] == [w.to_dict() for w in written]
    assert record["img01"] == {"shape": [251, 251], "ref": "/d/a_7.nxs", "entry": "entry7_2"}
    assert record["mca01"] == {"shape": [MAX_INLINE_VALUES + 1], "ref": "/d/a_7.nxs",
                               "entry": "entry7_2"}


def test_oversized_actual_spectrum_is_described_without_file() -> None:
    recorder, collector = _recorder()
    info = make_info(image=False)
    recorder.start(info)
    values = dict(make_point(info, 0).values, mca01=np.zeros(5000))
    recorder.record(Point(0, values, time.time()))
    assert collector.decoded()[1]["data"]["mca01"] == {"shape": [5000], "ref": None}


def test_non_finite_values_become_null() -> None:
    recorder, collector = _recorder()
    info = make_info(image=False)
    recorder.start(info)
    spectrum = np.arange(256, dtype=np.float64)
    spectrum[3] = np.nan
    spectrum[4] = np.inf
    values = dict(make_point(info, 0).values, ct01=float("nan"), ct02=np.float32("-inf"),
                  mot02=np.float64("nan"), mca01=spectrum)
    recorder.record(Point(0, values, time.time()))
    recorder.end(ScanEnd(EndStatus.DONE, time.time(), 1))

    for _, payload in collector.packets:
        text = payload.decode()
        assert "NaN" not in text and "Infinity" not in text
    record = collector.decoded()[1]["data"]
    assert record["ct01"] is None and record["ct02"] is None and record["mot02"] is None
    spectrum_values = record["mca01"]["values"]
    assert spectrum_values[3] is None and spectrum_values[4] is None
    assert spectrum_values[5] == 5.0


def test_numpy_integer_and_bool_values_are_plain() -> None:
    recorder, collector = _recorder()
    info = make_info(image=False)
    recorder.start(info)
    values = dict(make_point(info, 0).values, ct01=np.int64(2**40), ct02=np.bool_(True))
    recorder.record(Point(0, values, time.time()))
    record = collector.decoded()[1]["data"]
    assert record["ct01"] == 2**40 and record["ct02"] is True


def test_end_without_start_still_sends_record_end() -> None:
    recorder, collector = _recorder()
    recorder.end(ScanEnd(EndStatus.FAILED, time.time(), 0, reason="boom"))
    (packet,) = collector.decoded()
    assert packet["type"] == "record_end"
    assert packet["data"]["status"] == "failed" and packet["data"]["reason"] == "boom"


def test_deadtime_is_elapsed_minus_counting_time() -> None:
    recorder, collector = _recorder()
    info = make_info()  # integration_time 0.1
    recorder.start(info)
    recorder.end(ScanEnd(EndStatus.DONE, info.start_time + 2.0, points=5))
    assert collector.decoded()[-1]["data"]["deadtime"] == pytest.approx(1.5)


def test_per_point_cost_is_small() -> None:
    """Scalars plus a 256-value spectrum and an image description: well under 1 ms."""
    recorder, _ = _recorder()
    info = make_info()
    recorder.start(info)
    batch = [make_point(info, i) for i in range(200)]
    begin = time.perf_counter()
    for point in batch:
        recorder.record(point)
    per_point = (time.perf_counter() - begin) / len(batch)
    assert per_point < 1e-3, f"{per_point * 1e6:.0f} µs per point"
