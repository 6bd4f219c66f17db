"""The EDF writer's own header block is byte for byte what fabio writes (speed fix)."""

from __future__ import annotations

import fabio
import fabio.edfimage
import numpy as np
import pytest

from macroserver.recorders.edf import edf_header, header_value, point_header

HEADER = point_header(12, "ascan m1 0 1 4 0.1; {odd} µ", 3, {"m1": 0.25, "gap_x": float("nan")},
                      {"timer": 0.1, "ct01": 1234.5}, 0.1, 1_795_614_442.25)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "uint32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(251, 251), (3, 5), (1, 7)])
def test_same_bytes_as_fabio(tmp_path, dtype, shape):
    data = (np.arange(np.prod(shape)) % 200).reshape(shape).astype(dtype)
    values = {k: header_value(v) for k, v in HEADER.items()}
    fabio.edfimage.EdfImage(data=data, header=values).write(str(tmp_path / "fabio.edf"))
    block = edf_header(data, values)
    assert block is not None
    assert block + data.tobytes() == (tmp_path / "fabio.edf").read_bytes()


def test_long_header_same_bytes_as_fabio(tmp_path):
    data = np.ones((4, 4))
    values = {f"key{i}": "x" * i for i in range(200)}
    fabio.edfimage.EdfImage(data=data, header=values).write(str(tmp_path / "fabio.edf"))
    assert edf_header(data, values) + data.tobytes() == (tmp_path / "fabio.edf").read_bytes()


def test_left_to_fabio():
    assert edf_header(np.zeros((2, 2), dtype="complex128"), {}) is None
    assert edf_header(np.zeros(3), {}) is None  # fabio stores 1D as (1, n)
    assert edf_header(np.zeros((2, 3, 4)), {}) is None
    assert edf_header(np.zeros((2, 2)), {"Size": "1"}) is None
    assert edf_header(np.zeros((2, 2)), {"Dim_3": "1"}) is None
    assert edf_header(np.zeros((2, 2), dtype=">f8"), {}) is None


def test_written_file_reads_back(tmp_path):
    from macroserver.datafiles import FilePolicy, Folder
    from macroserver.recorders.edf import EdfWriter

    image = np.random.default_rng(1).random((7, 9))
    with Folder(tmp_path.resolve(), FilePolicy()) as folder:
        writer = EdfWriter(folder, tmp_path / "scan.dat", 3)
        path = writer.write("beam", 0, image, HEADER)
        writer.close()
    edf = fabio.open(str(path))
    np.testing.assert_array_equal(edf.data, image)
    assert edf.header["motor_mne"] == "m1 gap_x"
    assert not list(tmp_path.glob("**/.*.part"))
