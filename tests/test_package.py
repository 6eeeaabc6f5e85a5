"""The library as users install it: `pip install <checkout>` into a fresh virtual
environment outside the checkout, with its declared dependencies only plus JAX (no
TensorFlow), runs the README's "use it in your own model" snippet and the `init-doctor`
command; and the repository's command lines start without TensorFlow's C++ log."""

import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib


import initializers
from initializers import _optional
from reproductions import sweeps

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What TensorFlow writes while it loads, before its log level applies (initializers._console).
TENSORFLOW_START_UP = ("absl::InitializeLog", "I0000", "E0000", "cuInit")


def readme_snippet():
    """The Python block of the README's "Use it in your own model" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Use it in your own model"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


MUP_SNIPPET = """
import keras, numpy as np
from initializers import mup

def build(width):
    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(width, activation="relu", name="hidden"),
                             keras.layers.Dense(width, activation="relu", name="hidden2"),
                             keras.layers.Dense(3, name="logits")])

model = build(64)
scheme = mup.MuP(model, mup.BaseShapes.from_builder(build, base_width=16))
scheme.initialize("he_normal", seed=0)
model.compile(optimizer=scheme.optimizer(keras.optimizers.Adam(1e-3)),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
history = model.fit(rng.standard_normal((32, 20)), rng.integers(0, 3, 32), batch_size=8, verbose=0)
assert np.isfinite(history.history["loss"][-1])
assert "logits/kernel" in scheme.describe("adam")
print("μP trained")
"""


def _clean_environment(**extra):
    """The test process's environment without what points into the checkout."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "KERAS_BACKEND")}
    return {**environment, **extra}


def test_metadata_declares_the_library_only():
    project = PYPROJECT["project"]
    assert project["name"] == _optional.DISTRIBUTION
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "initializers.__version__"}
    requirements = [re.split(r"[<>=!~ \[]", r)[0].lower() for r in project["dependencies"]]
    assert requirements == ["keras", "numpy"]  # no TensorFlow, TFDS, Dask, KerasHub or matplotlib
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["initializers", "initializers.*"]
    assert project["scripts"] == {"init-doctor": "initializers.doctor.cli:main"}
    assert f"## {initializers.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_installed_alone_it_runs_the_readme_snippet_on_jax_without_tensorflow(tmp_path):
    # A copy of what the package is built from (pip builds in the source folder), so the
    # checkout stays as it is; the venv has no access to the checkout's site-packages.
    source = tmp_path / "checkout"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "initializers", source / "initializers", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, doctor = venv / "bin" / "python", venv / "bin" / "init-doctor"
    jax = f"jax=={importlib.metadata.version('jax')}"  # the one requirements.txt pins: a cached wheel
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              str(source), jax], capture_output=True, text=True, timeout=900,
                             env=_clean_environment())
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "user_project"  # outside the checkout
    work.mkdir()
    jax_env = _clean_environment(KERAS_BACKEND="jax")

    def run(*command, env=jax_env):
        return subprocess.run([str(c) for c in command], cwd=work, capture_output=True, text=True, timeout=600,
                              env=env)

    probe = run(python, "-c", "import importlib.util as u, importlib.metadata as m, initializers\n"
                              "print(initializers.__version__, m.version('keras-paper-initializers'))\n"
                              "print([n for n in ('tensorflow', 'models', 'reproductions', 'benchmarks', "
                              "'matplotlib') if u.find_spec(n)])\n"
                              "print(initializers.__file__)")
    assert probe.returncode == 0, probe.stderr[-3000:]
    versions, importable, location = probe.stdout.splitlines()
    assert versions == f"{initializers.__version__} {initializers.__version__}"
    assert importable == "[]"  # no TensorFlow; `import models` fails; no matplotlib (an extra)
    assert str(venv) in location

    snippet = run(python, "-c", readme_snippet() + "\nimport sys\nassert 'tensorflow' not in sys.modules\n"
                                                   "model.save('model.keras')\n")
    assert snippet.returncode == 0, snippet.stderr[-3000:]
    assert "forward gain" in snippet.stdout  # the doctor's table

    mup = run(python, "-c", MUP_SNIPPET)  # μP on a user's own builder, trained one epoch
    assert mup.returncode == 0 and "μP trained" in mup.stdout, mup.stderr[-3000:]

    usage = run(doctor, "--help")
    assert usage.returncode == 0 and usage.stdout.startswith("usage: init-doctor"), usage.stderr[-2000:]
    examined = run(doctor, "model.keras", "--out", "doctor", "--methods", "current", "he")
    assert examined.returncode in (0, 1), examined.stderr[-3000:]
    assert (work / "doctor" / "report.md").exists() and not (work / "doctor" / "doctor.png").exists()
    assert "doctor.png not drawn" in examined.stderr and "[plots]" in examined.stderr
    no_backend = run(doctor, "--help", env=_clean_environment())  # Keras's default backend: TensorFlow
    assert no_backend.returncode == 2 and no_backend.stderr.count("\n") == 1
    assert "tensorflow, is not installed" in no_backend.stderr and "KERAS_BACKEND" in no_backend.stderr


def _command(*arguments, env=None):
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=_clean_environment(**(env or {})))


def test_command_lines_start_without_tensorflows_log_unless_verbose(tmp_path):
    doctor = _command("-m", "initializers.doctor", "--help")
    assert doctor.returncode == 0 and doctor.stdout.startswith("usage: python -m initializers.doctor")
    assert not any(marker in doctor.stderr for marker in TENSORFLOW_START_UP), doctor.stderr
    verbose = _command("-m", "initializers.doctor", "--help", "--verbose")
    assert verbose.returncode == 0 and "absl::InitializeLog" in verbose.stderr  # TensorFlow, said
    # A driver: what it will do and the profile's measured runtime, then its runs; no
    # TensorFlow lines from the process that prints them (its workers log to files).
    driver = _command("-m", "reproductions.blog_cases", "--profile", "smoke", "--seeds", "0", "--jobs", "1",
                      "--workdir", str(tmp_path / "blog"))
    assert driver.returncode == 0, driver.stderr[-3000:]
    assert driver.stderr.startswith(f"blog_case1, profile smoke: 3 runs (all to train) in {tmp_path / 'blog'}, "
                                    f"--jobs 1, --group-size {sweeps.DEFAULT_GROUP_SIZE}\n"
                                    "runtime: not measured for this profile\n")
    assert not any(marker in driver.stderr for marker in TENSORFLOW_START_UP), driver.stderr[:2000]


def test_a_library_import_leaves_tensorflows_log_alone():
    # Only the repository's command lines are quieted: a user's program that imports the
    # library sees TensorFlow as it would without it.
    imported = _command("-c", "import initializers")
    assert imported.returncode == 0 and "absl::InitializeLog" in imported.stderr
