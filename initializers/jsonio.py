"""The one JSON and JSON-lines I/O of the repository: the diagnostics' recorders, the
doctor's report and the drivers' run folders alike (plain file I/O: no Keras).

* `write_json_atomic`: temp file + fsync + rename, so a kill never leaves half a file;
* `append_jsonl`: one line per record, flushed and fsynced;
* `read_jsonl`: tolerates a torn last line (a writer killed mid-line);
* NaN and infinity are not JSON: they are written as null (a diverged metric is
  recorded as null plus the run's status).
"""

import json
import math
import os
import pathlib
import tempfile


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
    with open(path) as handle:
        return json.load(handle)


def append_jsonl(path, record):
    """Appends one JSON line and flushes it to disk."""
    with open(path, "a") as handle:
        handle.write(json.dumps(finite_or_none(record), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path):
    """Records of a JSON-lines file; a torn last line (killed writer) is ignored."""
    records = []
    with open(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records
