"""What the He 2015 driver measures beside the harness's error curves: the gradient
norm of every kernel on one fixed validation batch, at step 0 and at every
evaluation (`<run>/gradients.jsonl`), He et al.'s "diminishing" gradients (Fig. 3)."""

import numpy as np

from initializers.diagnostics import KernelGradientNormRecorder
from initializers.jsonio import read_jsonl
from reproductions import data, driver

GRADIENT_BATCH = 64  # fixed validation examples the gradient norms are measured on


def _gradient_batch(dataset, data_dir):
    return data.as_numpy(data.load(dataset, "validation", GRADIENT_BATCH,
                                   num_examples=GRADIENT_BATCH, data_dir=data_dir))


def _recorders(config, batch, run_dir, tensorboard):  # the norms are not written to TensorBoard
    images, labels = batch
    return [KernelGradientNormRecorder(images, labels, run_dir / "gradients.jsonl",
                                       every=config.eval_every)]


# `(workdir, tensorboard) -> (config -> callbacks)`: one recorder per run, one shared batch.
gradient_callbacks = driver.FixedBatchCallbacks(_gradient_batch, _recorders)


def gradient_norms(group, step=0):
    """Array [seed, layer] of kernel-gradient norms at `step` from the runs' gradients.jsonl
    (seeds without a record at `step` are left out)."""
    per_seed = []
    for run in group:
        path = run["dir"] / "gradients.jsonl"
        records = [r for r in read_jsonl(path) if r["step"] == step] if path.exists() else []
        if records:
            per_seed.append(records[0]["kernel_grad_norm"])
    return np.array(per_seed)
