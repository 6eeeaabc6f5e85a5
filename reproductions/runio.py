"""Files of a run folder: atomic JSON writes, JSON-lines metrics, environment."""

import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _finite_or_none(value):
    # NaN/inf are not JSON; a diverged metric is recorded as null plus the status.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def write_json_atomic(path, data):
    """Writes JSON through a temp file + rename, so a kill never leaves half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_finite_or_none(data), handle, indent=2, sort_keys=True)
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
        handle.write(json.dumps(_finite_or_none(record), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path):
    """Records of a JSON-lines file; a torn last line (killed writer) is ignored."""
    records = []
    with open(path) as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def git_commit():
    """(commit hash or None, whether the work tree has uncommitted changes)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=REPO_ROOT, capture_output=True, text=True,
                                    timeout=10).stdout.strip())
        return commit, dirty
    except (OSError, subprocess.SubprocessError):
        return None, None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment():
    """Versions, backend, devices and git commit of this process."""
    import keras
    import numpy

    versions = {"python": platform.python_version(), "keras": keras.__version__,
                "numpy": numpy.__version__}
    backend = keras.backend.backend()
    devices = []
    if backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        devices = [d.name for d in tf.config.list_logical_devices()]
    elif backend == "jax":
        import jax

        versions["jax"] = jax.__version__
        devices = [str(d) for d in jax.devices()]
    for module in ("tensorflow_datasets", "matplotlib"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", None)
    commit, dirty = git_commit()
    return {
        "versions": versions,
        "backend": backend,
        "devices": devices,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
    }
