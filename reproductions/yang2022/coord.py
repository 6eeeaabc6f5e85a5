"""The coordinate checks of a profile, measured once before the sweep into
`<workdir>/coord_check.json` (the MLP) and `coord_check_transformer.json` (the small
Transformer; profiles that have one), each with its settings, records, environment and
seconds; the report and the `coord_check*.png` figures are drawn from those files."""

import pathlib
import time

import numpy as np

from initializers.jsonio import read_json, write_json_atomic
from reproductions import data
from reproductions.configs import yang2022 as config
from reproductions.environment import environment

COORD_FILE = "coord_check.json"
TRANSFORMER_COORD_FILE = "coord_check_transformer.json"


def coord_settings(profile, dataset):
    """What the MLP check's records depend on: redone when any of it changes."""
    settings = config.PROFILES[profile]
    optimizer = config.coord_optimizer(settings)
    return {"dataset": dataset, "widths": list(settings["coord_widths"]), "seeds": list(settings["coord_seeds"]),
            "steps": settings["coord_steps"], "learning_rate": config.COORD_LEARNING_RATE[optimizer],
            "optimizer": config.OPTIMIZER_NAMES[optimizer], "momentum": 0.9, "batch_size": settings["batch_size"],
            "base_width": config.base_width(settings), "initializer": config.INITIALIZER,
            "readout": config.READOUT, "depth": settings["depth"], "activation": settings["activation"]}


def coord_batches(dataset, data_dir, batch_size, steps):
    """`steps + 1` fixed batches of flattened validation images (one per step)."""
    images, labels = data.as_numpy(data.load(dataset, "validation", batch_size, flatten=True,
                                             num_examples=batch_size * (steps + 1), data_dir=data_dir))
    return [(images[i * batch_size:(i + 1) * batch_size], labels[i * batch_size:(i + 1) * batch_size])
            for i in range(steps + 1)]


def _measure(path, wanted, build, batches, log):
    """Runs `coordinates.coord_check` as `wanted` says, into `path` (unless it holds them)."""
    from initializers.diagnostics.coordinates import coord_check

    if path.exists() and read_json(path).get("settings") == wanted:
        return
    log(f"coordinate check ({path.name}): widths {wanted['widths']}, {len(wanted['seeds'])} seeds, "
        f"steps 0-{wanted['steps']}")
    start = time.perf_counter()
    records = coord_check(build, wanted["widths"], batches, base_width=wanted["base_width"], steps=wanted["steps"],
                          seeds=wanted["seeds"], optimizer=wanted["optimizer"], learning_rate=wanted["learning_rate"],
                          momentum=wanted.get("momentum", 0.9), method=wanted["initializer"],
                          readout=config.READOUT, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"settings": wanted, "records": records, "environment": environment(),
                             "seconds": time.perf_counter() - start})


def transformer_settings(profile):
    """What the Transformer check's records depend on (None: the profile has none)."""
    settings = config.PROFILES[profile].get("transformer_coord")
    if settings is None:
        return None
    return {**settings, "widths": list(settings["widths"]), "seeds": list(settings["seeds"]),
            "base_width": min(settings["widths"]), "model": "transformer_classifier"}


def transformer_batches(wanted):
    """One batch of random token ids and labels (`data_seed`), read and trained on at every step."""
    rng = np.random.default_rng(wanted["data_seed"])
    tokens = rng.integers(0, wanted["vocabulary_size"], (wanted["batch_size"], wanted["sequence_length"]))
    return [(tokens.astype("int32"), rng.integers(0, wanted["classes"], wanted["batch_size"]))]


def measure_coord_check(workdir, profile, configs, seeds, log=print):
    """The driver's `prepare`: writes the coordinate checks whose files do not hold the
    profile's settings yet."""
    import models

    dataset, data_dir = configs[0].dataset, configs[0].data_dir
    settings = config.PROFILES[profile]
    wanted = coord_settings(profile, dataset)
    _measure(pathlib.Path(workdir) / COORD_FILE, wanted,
             lambda width: models.build("deep_mlp", **config.mlp_kwargs(settings, dataset, width)),
             coord_batches(dataset, data_dir, wanted["batch_size"], wanted["steps"]), log)
    transformer = transformer_settings(profile)
    if transformer is not None:
        shape = {key: transformer[key] for key in ("vocabulary_size", "sequence_length", "heads", "blocks", "classes")}
        _measure(pathlib.Path(workdir) / TRANSFORMER_COORD_FILE, transformer,
                 lambda width: models.build("transformer_classifier", width=width, **shape),
                 transformer_batches(transformer), log)


def read_coord_check(workdir, name=COORD_FILE):
    """A coordinate check file's content, or None when the workdir has none."""
    path = pathlib.Path(workdir) / name
    return read_json(path) if path.exists() else None
