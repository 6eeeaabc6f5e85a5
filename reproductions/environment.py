"""What a run ran on: versions, backend, devices, CPU and git commit (`env.json`)."""

import os
import pathlib
import platform
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


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
