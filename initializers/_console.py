"""A quiet start for this repository's command lines (standard library only).

TensorFlow 2.21 writes its C++ start-up lines to the terminal while it is imported
("oneDNN custom operations are on", "Could not find cuda drivers", and, at its first op on
a machine without a GPU, an `E0000 ... failed call to cuInit` line that reads like a
failure). `TF_CPP_MIN_LOG_LEVEL=3` silences the later ones, but the lines written "before
absl::InitializeLog() is called" ignore it: only pointing file descriptor 2 elsewhere
while TensorFlow loads keeps them out of the terminal.

So when, and only when, this process is one of the repository's command lines (the init
doctor, `python -m initializers.doctor` or `init-doctor`, and, in a checkout, the drivers,
`python -m reproductions.<paper>`, and the benchmarks) without `--verbose`, `quiet_start` sets
`TF_CPP_MIN_LOG_LEVEL=3` (unless the user set it) and imports Keras, and with it the
backend, with file descriptor 2 captured; what was captured is printed if the import
fails. It runs first in `initializers/__init__.py`, before anything imports Keras; a
program that merely imports the library (a user's training script, the tests) is left as
it is. Sweep workers inherit the log level; their output goes to their log files anyway.
"""

import contextlib
import os
import sys
import tempfile

# `python -m <module>` with a module under these packages, or these console scripts.
PROGRAM_PACKAGES = ("initializers", "reproductions", "benchmarks")
PROGRAM_SCRIPTS = ("init-doctor",)
VERBOSE_FLAG = "--verbose"


def running_program():
    """The repository command line this process runs (a module or script name), or None.

    While `python -m package.module` imports the packages above its module, `sys.argv[0]`
    is "-m" (the Python documentation of `-m`), and `sys.orig_argv` names the module.
    """
    if sys.argv[:1] == ["-m"]:
        original = list(getattr(sys, "orig_argv", ()))
        module = original[original.index("-m") + 1] if "-m" in original[:-1] else ""
        return module if module.split(".")[0] in PROGRAM_PACKAGES else None
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if script in PROGRAM_SCRIPTS else None


@contextlib.contextmanager
def captured_stderr():
    """File descriptor 2 points at a temporary file within the block (C++ libraries write
    there directly); the captured text is printed if the block raises."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to quiet
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                capture.seek(0)
                sys.stderr.write(capture.read().decode(errors="replace"))


def quiet_start():
    """For a repository command line without `--verbose` (`running_program`): silence
    TensorFlow's start-up log before Keras imports it. Does nothing otherwise, or when Keras
    is already imported."""
    if running_program() is None or VERBOSE_FLAG in sys.argv[1:] or "keras" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with captured_stderr():
            import keras  # noqa: F401  (and the backend: TensorFlow, JAX or torch)
    except ModuleNotFoundError as error:  # a command line says it in one line
        missing = (error.name or "").split(".")[0]
        if missing in ("tensorflow", "jax", "torch"):
            print(f"error: Keras's backend, {missing}, is not installed (KERAS_BACKEND or "
                  "~/.keras/keras.json choose the backend; tensorflow is Keras's default): install it, "
                  "or set KERAS_BACKEND to an installed one (jax, torch or tensorflow).", file=sys.stderr)
            raise SystemExit(2) from None
        raise
