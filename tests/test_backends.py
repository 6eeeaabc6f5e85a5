"""Any Keras backend: one data stream on every backend, drivers under JAX without
TensorFlow, and data-parallel runs that follow the single-device loss curve."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from reproductions import data
from reproductions.data import debian
from reproductions.data.batches import ArrayBatches, StreamBatches

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, flatten", [("shapeset3x2", True), ("shapeset_location", False)])
def test_pydataset_path_serves_the_batches_of_the_tf_data_path(name, flatten):
    from reproductions.data import shapeset

    # Small chunks, to cross a chunk boundary: batch i by index equals the streamed batch i.
    stream = StreamBatches(data.info(name).generator, 16, seed=3, flatten=flatten, chunk_size=64)
    expected = shapeset.stream(16, 3, chunk_size=64, generator=data.info(name).generator)
    for index in range(6):  # across a chunk boundary
        images, labels = stream[index]
        want_images, want_labels = next(expected)
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_array_equal(images, want_images.reshape(len(want_images), -1) if flatten
                                      else want_images)
    # With the default chunking, the first batch is the tf.data pipeline's first batch.
    default = StreamBatches(data.info(name).generator, 16, seed=3, flatten=flatten)
    first_tf = next(data.load(name, "train", 16, seed=3, flatten=flatten).as_numpy_iterator())
    np.testing.assert_array_equal(default[0][0], first_tf[0])
    test = data.as_numpy(data.load(name, "test", 32, num_examples=100, flatten=flatten))
    arrays = ArrayBatches(*data.info(name).generator(100, data.SHAPESET_EVAL_SEEDS["test"]), 32, flatten)
    np.testing.assert_array_equal(data.as_numpy(arrays)[0], test[0])
    assert arrays.num_batches == 4 and stream.num_batches is None


_JAX_DRIVER = """
import sys, json
sys.modules["tensorflow"] = None  # as on a machine without TensorFlow
from reproductions import glorot2010
glorot2010.main(["--profile", "smoke", "--workdir", sys.argv[1], "--quiet", "--jobs", "1"])
report = json.load(open(sys.argv[1] + "/report.json"))
run = sys.argv[1] + "/runs/shapeset3x2_tanh_normalized-seed0"
env = json.load(open(run + "/env.json"))
assert env["backend"] == "jax" and "tensorflow" not in env["versions"], env
record = json.loads(open(run + "/activations.jsonl").readline())  # the recorder, gradients by JAX
assert record["step"] == 0 and len(record["backprop"]) == 6
assert sys.modules["tensorflow"] is None
print("claims", len(report["claims"]))
"""


def _run(script, *args, env=None):
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_glorot_driver_smoke_profile_under_jax_without_tensorflow(tmp_path):
    out = _run(_JAX_DRIVER, str(tmp_path / "glorot"), env={"KERAS_BACKEND": "jax"})
    assert "claims 7" in out
    for name in ("fig6_activations_at_init.png", "fig11_test_error.png", "table1.md", "report.md"):
        assert (tmp_path / "glorot" / name).stat().st_size > 0


_JAX_DEBIAN = """
import sys, json
sys.modules["tensorflow"] = None  # as on a machine without TensorFlow (the lent GPU's image)
from reproductions import harness
from reproductions.configs import xiao2018
configs, _ = xiao2018.get_experiment("smoke")  # Fashion-MNIST from Debian's package
config = next(c for c in configs if c.tags["init"] == "delta_orthogonal" and c.tags["curve"])
final = harness.run(config, sys.argv[1], verbose=0)
env = json.load(open(sys.argv[1] + "/runs/" + config.run_id + "/env.json"))
assert env["backend"] == "jax" and "tensorflow" not in env["versions"], env
print("status", final["status"], config.dataset)
"""


@pytest.mark.skipif(not os.environ.get("REQUIRE_DEBIAN_DATASETS") and not debian.available("fashion_mnist"),
                    reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it and sets "
                           "REQUIRE_DEBIAN_DATASETS, so CI never skips this)")
def test_debian_fashion_mnist_trains_under_jax_without_tensorflow(tmp_path):
    assert "status completed fashion_mnist" in _run(_JAX_DEBIAN, str(tmp_path), env={"KERAS_BACKEND": "jax"})


_JAX_RESIDUAL = """
import sys
sys.modules["tensorflow"] = None  # as on a machine without TensorFlow (the lent GPU's image)
import numpy as np
from reproductions import harness
from reproductions.configs import zhang2019
configs, _ = zhang2019.get_experiment("smoke", dataset="shapeset3x2")
for row in ("batchnorm", "fixup"):  # the scan's BatchNorm statistics carry; Fixup's zero readout
    config = next(c for c in configs if c.tags["row"] == row)
    final = harness.run(config, sys.argv[1], verbose=0)
    print(row, final["status"])
"""


def test_residual_cnn_trains_under_jax_without_tensorflow(tmp_path):
    out = _run(_JAX_RESIDUAL, str(tmp_path), env={"KERAS_BACKEND": "jax"})
    assert "batchnorm completed" in out and "fixup completed" in out


_DISTRIBUTED = """
import sys, tempfile
if sys.argv[1] == "tensorflow":  # split the CPU into 2 logical devices, before TensorFlow starts
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from reproductions import harness
from reproductions.run_config import RunConfig, RunOptions
from initializers.jsonio import read_jsonl
config = RunConfig(name="mlp", model="simple_mlp", model_kwargs=dict(input_dim=1024, hidden_dim=32, output_dim=9),
                   initializer="he_normal", flatten=True, batch_size=16, steps=40, eval_every=10,
                   eval_examples=64, learning_rate=0.01, jit_compile=False)
curves, replicas = {}, {}
for distribute in (False, True):
    workdir = tempfile.mkdtemp()
    replicas[distribute] = harness.run(config, workdir, RunOptions(distribute=distribute), verbose=0)["replicas"]
    curves[distribute] = [(m["train_loss"], m["test_loss"]) for m in read_jsonl(workdir + "/runs/mlp-seed0/metrics.jsonl")]
assert replicas == {False: 1, True: 2}, replicas
for single, parallel in zip(curves[False], curves[True]):
    for a, b in zip(single, parallel):
        assert abs(a - b) < 1e-4, (curves[False], curves[True])
print("same curve", len(curves[True]))
"""


@pytest.mark.parametrize("backend, env", [("tensorflow", {}),
                                          ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})])
def test_data_parallel_run_follows_the_single_device_loss_curve(backend, env):
    assert "same curve 5" in _run(_DISTRIBUTED, backend, env={"KERAS_BACKEND": backend, **env})
