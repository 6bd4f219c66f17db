"""An example recorder plug-in: put this folder in RecorderPath (or the TOML's
recorder_path); `senv ScanFile scans.csv` then writes the scalar columns as CSV."""

from macroserver.recorders import Recorder


class CsvRecorder(Recorder):
    name = "csv"
    extensions = (".csv",)          # chosen for ScanFile entries ending in .csv

    def start(self, info):
        self.file = open(self.context.path, "a")
        self.names = [c.name for c in info.columns if c.ndim == 0]
        self.file.write(",".join(self.names) + "\n")

    def record(self, point):
        self.file.write(",".join(str(point[n]) for n in self.names) + "\n")

    def end(self, end):
        self.file.close()
