"""The one JSON and JSON-lines I/O of the repository: the diagnostics' recorders, the
doctor's report and the drivers' run folders alike (plain file I/O: no Keras).

* `write_json_atomic`: temp file + fsync + rename, so a kill never leaves half a file;
* `append_jsonl`: one line per record, flushed and fsynced;
* `read_json`: a file that is not JSON (cut short by a full disk, an interrupted copy)
  raises `DamagedFileError`, which names the file;
* `read_jsonl`: a line that is not JSON (a torn last line: a writer killed mid-line) is
  left out with a `DamagedFileWarning` naming the file and line;
* NaN and infinity are not JSON: they are written as null (a diverged metric is
  recorded as null plus the run's status).
"""

import json
import math
import os
import pathlib
import tempfile
import warnings


class DamagedFileError(ValueError):
    """A JSON file that cannot be parsed; `path` is the file."""

    def __init__(self, path, error):
        self.path = pathlib.Path(path)
        super().__init__(f"{path} is damaged: not valid JSON ({error}). Received: path={path}")


class DamagedFileWarning(UserWarning):
    """Lines of a JSON-lines file that are not JSON were left out."""


def finite_or_none(value):
    """`value` with every non-finite float (also inside dicts and lists) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_json_atomic(path, data):
    """Writes JSON through a temp file + rename, so a kill never leaves half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(finite_or_none(data), handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path):
    """The content of a JSON file; `DamagedFileError` (naming it) if it is not JSON."""
    with open(path) as handle:
        text = handle.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DamagedFileError(path, error) from None


def append_jsonl(path, record):
    """Appends one JSON line and flushes it to disk."""
    with open(path, "a") as handle:
        handle.write(json.dumps(finite_or_none(record), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path):
    """Records of a JSON-lines file. A line that is not JSON (a torn last line: a writer
    killed mid-line, or a file cut short) is left out, with a `DamagedFileWarning` that
    names the file and the line."""
    records, damaged = [], []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                damaged.append(number)
    if damaged:
        warnings.warn(f"{path}: line {', '.join(map(str, damaged))} is not JSON (cut short?); left out",
                      DamagedFileWarning, stacklevel=2)
    return records
