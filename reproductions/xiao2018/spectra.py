"""Dynamical isometry measured: the singular values of the identical layers' input-output
Jacobian at initialization, delta-orthogonal vs Gaussian kernels at the same critical
(sigma_w^2, sigma_b^2), at several depths; measured once before the sweep into
`<workdir>/spectra.json` (settings, per initializer, per draw, per depth: the singular
values and their spread), from which the claims and `jacobian_spectra.png` are drawn.

Setting (Pennington, Schoenholz & Ganguli 2017; Xiao et al. 2018, Sec. 3): one input map
of `spectra_size` x `spectra_size` x `spectra_channels` with i.i.d. N(0, q*) entries (the
fixed point of the length map, so every layer sees the variance the theory assumes),
circular padding, tanh, biases N(0, sigma_b^2); exact float64 Jacobians
(`initializers.diagnostics.jacobian.stacked_jacobian_spectra`). Spread = std / mean of
the singular values (0 for an exact isometry).
"""

import pathlib
import time

import numpy as np

from initializers.jsonio import read_json, write_json_atomic
from reproductions.configs import xiao2018 as config
from reproductions.environment import environment
from reproductions.runs import seed_summary

SPECTRA_FILE = "spectra.json"
SPECTRA_KEYS = config.CRITICAL_KEYS  # delta-orthogonal and Gaussian at the critical point


def spectra_settings(profile):
    """What the spectra depend on: remeasured when any of it changes."""
    from initializers.diagnostics import mean_field

    settings = config.PROFILES[profile]
    return {"depths": list(settings["spectra_depths"]), "draws": settings["spectra_draws"],
            "size": settings["spectra_size"], "channels": settings["spectra_channels"], "kernel_size": 3,
            "sigma_w2": config.SIGMA_W2, "sigma_b2": config.SIGMA_B2, "activation": "tanh",
            "padding": "circular", "input_variance": mean_field.q_star("tanh", config.SIGMA_W2, config.SIGMA_B2),
            "initializers": list(SPECTRA_KEYS)}


def measure_draw(key, wanted, draw):
    """{depth: singular values} of one draw of initializer `key`'s stack (seeded by `draw`)."""
    from initializers.diagnostics.jacobian import stacked_jacobian_spectra
    from models.vanilla_cnn import StackedInitializer

    kernel, _ = config.initializers_of(key, wanted["sigma_w2"], wanted["sigma_b2"])
    channels, k, depth = wanted["channels"], wanted["kernel_size"], max(wanted["depths"])
    kernels = StackedInitializer(kernel, seed=draw)((depth, k, k, channels, channels), dtype="float32")
    rng = np.random.default_rng([draw, 2018])
    biases = rng.normal(0.0, np.sqrt(wanted["sigma_b2"]), (depth, channels))
    x = rng.normal(0.0, np.sqrt(wanted["input_variance"]), (wanted["size"], wanted["size"], channels))
    return stacked_jacobian_spectra(np.asarray(kernels), biases, x, wanted["depths"],
                                    activation=wanted["activation"], padding=wanted["padding"])


def spread(values):
    """std / mean of singular values (0 for an isometry)."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.std(values) / np.mean(values))


def measure_spectra(workdir, profile, configs=None, seeds=None, log=print):
    """`<workdir>/spectra.json` for `profile` (kept when it holds these settings). The
    driver's `prepare` step."""
    path = pathlib.Path(workdir) / SPECTRA_FILE
    wanted = spectra_settings(profile)
    if path.exists() and read_json(path).get("settings") == wanted:
        return
    log(f"Jacobian spectra: {', '.join(SPECTRA_KEYS)} at depths {wanted['depths']}, {wanted['draws']} draws")
    start = time.perf_counter()
    records = []
    for key in SPECTRA_KEYS:
        for draw in range(wanted["draws"]):
            for depth, values in measure_draw(key, wanted, draw).items():
                records.append({"init": key, "draw": draw, "depth": depth, "spread": spread(values),
                                "singular_values": [float(v) for v in values]})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"settings": wanted, "records": records, "environment": environment(),
                             "seconds": time.perf_counter() - start})


def read_spectra(workdir):
    """spectra.json's content, or None when it was not measured."""
    path = pathlib.Path(workdir) / SPECTRA_FILE
    return read_json(path) if path.exists() else None


def spreads_by_draw(spectra):
    """{init: {depth: [spread per draw]}} of spectra.json."""
    return {key: {str(depth): [r["spread"] for r in spectra["records"] if r["init"] == key and r["depth"] == depth]
                  for depth in spectra["settings"]["depths"]} for key in SPECTRA_KEYS}


def spread_table(spectra):
    """{init: {depth: {"per_seed" (per draw), "mean", "std"}}} of the spreads."""
    return {key: {depth: seed_summary(spreads) for depth, spreads in depths.items()}
            for key, depths in spreads_by_draw(spectra).items()}
