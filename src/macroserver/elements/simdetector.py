"""A simulated self-saving area detector: Lima's saving settings, triggered frames
exposed in a thread at a bounded rate, each saved to HDF5 files (`framefiles.py`).

One core serves the in-process element (`selfsaving.SimSelfSavingChannel`) and the Tango
device (`macroserver.tango.simdetector`), so both behave the same. Counters follow Lima:
`acquired` and `saved` are frame counts (Lima's last_image_* are these minus one).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

from macroserver.elements.framefiles import LIMA_DATASET, FrameFileWriter, compress, spot_frames

DTYPES = ("uint8", "uint16", "uint32", "int32", "float32")
FRAME_VARIANTS = 4  # distinct frames cycled through (compressed once per acquisition)


class SimDetectorCore:
    """Saving settings, a trigger counter and the thread that exposes and saves frames."""

    def __init__(self, shape: tuple[int, int], dtype: str = "uint16", max_rate: float = 0.0,
                 frames_per_file: int = 100, max_saved: int | None = None) -> None:
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"a detector frame needs 2 positive sizes, not {list(shape)}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        if max_rate < 0 or frames_per_file < 1:
            raise ValueError("rate must be 0 (unbounded) or more, frames per file at least 1")
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = dtype
        self.max_rate = max_rate
        self.max_saved = max_saved  # fault simulation: a detector that stops saving
        self.saving_directory = ""
        self.saving_prefix = ""
        self.saving_suffix = ".h5"
        self.saving_format = "HDF5"
        self.saving_next_number = 0
        self.saving_frame_per_file = frames_per_file
        self.acq_nb_frames = 1
        self.acq_expo_time = 0.0
        self.acquired = 0
        self.saved = 0
        self.status = "Ready"  # Lima's acq_status: Ready, Running, Fault
        self.error = ""
        self._triggers = 0
        self._triggered_at: deque[float] = deque()  # when each waiting frame was triggered
        self._stopping = False
        self._running = False  # the acquisition thread has frames to take
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._compressed: list[bytes] = []

    # -- control -------------------------------------------------------------------------

    def prepare(self) -> None:
        """Arm for `acq_nb_frames` frames with the current saving settings."""
        self._join()
        if self.saving_format.upper() != "HDF5":
            raise ValueError(f"saving_format {self.saving_format!r}: only HDF5 is simulated")
        folder = Path(self.saving_directory)
        if not folder.is_dir():
            raise ValueError(f"saving_directory {self.saving_directory!r} is not a folder")
        if self.acq_nb_frames < 1:
            raise ValueError("acq_nb_frames must be at least 1")
        writer = FrameFileWriter(folder, self.saving_prefix, self.saving_suffix,
                                 self.saving_frame_per_file, self.acq_nb_frames, self.shape,
                                 self.dtype, LIMA_DATASET, self.saving_next_number)
        chunks = self._chunks()
        with self._changed:
            self.acquired = self.saved = self._triggers = 0
            self._triggered_at.clear()
            self._stopping = False
            self._running = True
            self.status, self.error = "Running", ""
        self._thread = threading.Thread(target=self._run, args=(writer, chunks),
                                        name="sim-detector", daemon=True)
        self._thread.start()

    def _chunks(self) -> list[bytes]:
        """The frames as compressed chunks, made once (a 2048x2048 frame takes ~50 ms)."""
        if not self._compressed:
            self._compressed = [compress(f) for f in
                                spot_frames(self.shape, self.dtype, FRAME_VARIANTS)]
        return self._compressed

    def trigger(self) -> None:
        """Take one more frame (Lima's INTERNAL_TRIGGER_MULTI: one startAcq per frame)."""
        with self._changed:
            if self.status == "Fault":
                raise RuntimeError(f"detector in Fault: {self.error}")
            if self._thread is None or self._triggers >= self.acq_nb_frames:
                raise RuntimeError(f"not armed for more frames ({self.acq_nb_frames} "
                                   "were prepared); run prepareAcq first")
            self._triggers += 1
            self._triggered_at.append(time.monotonic())
            self._changed.notify_all()

    def stop(self) -> None:
        """Stop after the frame being exposed; its files are closed."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._join()

    def wait_for(self, count: int, timeout: float, saved: bool = False) -> bool:
        """Wait until `count` frames were acquired (or saved); False after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (self.saved if saved else self.acquired) < count:
                if self.status == "Fault":
                    raise RuntimeError(f"detector in Fault: {self.error}")
                if not self._running:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    # -- the acquisition thread ----------------------------------------------------------

    def _run(self, writer: FrameFileWriter, chunks: list[bytes]) -> None:
        period = max(self.acq_expo_time, 1.0 / self.max_rate if self.max_rate else 0.0)
        try:
            writer.start()
            for frame in range(self.acq_nb_frames):
                with self._changed:
                    idle = self._triggers <= frame and not self._stopping
                if idle:  # waiting for the next trigger: readers see all saved so far
                    writer.flush()
                with self._changed:
                    while self._triggers <= frame and not self._stopping:
                        self._changed.wait()
                    if self._stopping:
                        break
                    ready = self._triggered_at.popleft() + period
                if period:  # the exposure began at the trigger, not when this thread woke
                    time.sleep(max(0.0, ready - time.monotonic()))
                with self._changed:
                    self.acquired = frame + 1
                    self._changed.notify_all()
                if self.max_saved is not None and frame >= self.max_saved:
                    continue
                writer.write(frame, chunks[frame % len(chunks)])
                with self._changed:
                    self.saved = frame + 1
                    self._changed.notify_all()
            writer.close()
            with self._changed:
                self.status = "Ready"
        except Exception as exc:  # disk full, folder removed: the detector faults
            writer.close()
            with self._changed:
                self.status, self.error = "Fault", f"{type(exc).__name__}: {exc}"
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()

    def _join(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            with self._changed:
                self._stopping = True
                self._changed.notify_all()
            thread.join()
