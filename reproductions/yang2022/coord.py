"""The coordinate check of a profile, measured once before the sweep into
`<workdir>/coord_check.json` (its settings, records, environment, seconds); the
report and `coord_check.png` are drawn from that file."""

import pathlib
import time

from initializers.jsonio import read_json, write_json_atomic
from reproductions import data
from reproductions.configs import yang2022 as config
from reproductions.environment import environment

COORD_FILE = "coord_check.json"


def coord_settings(profile, dataset):
    """What the file's records depend on: redone when any of it changes."""
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


def measure_coord_check(workdir, profile, configs, seeds):
    """The driver's `prepare`: writes coord_check.json unless it holds these settings."""
    import models
    from initializers.diagnostics.coordinates import coord_check

    dataset, data_dir = configs[0].dataset, configs[0].data_dir
    wanted = coord_settings(profile, dataset)
    path = pathlib.Path(workdir) / COORD_FILE
    if path.exists() and read_json(path).get("settings") == wanted:
        return
    settings = config.PROFILES[profile]
    print(f"coordinate check: widths {wanted['widths']}, {len(wanted['seeds'])} seeds, steps 0-{wanted['steps']}")
    start = time.perf_counter()
    records = coord_check(
        lambda width: models.build("deep_mlp", **config.mlp_kwargs(settings, dataset, width)),
        wanted["widths"], coord_batches(dataset, data_dir, wanted["batch_size"], wanted["steps"]),
        base_width=wanted["base_width"], steps=wanted["steps"], seeds=wanted["seeds"], optimizer=wanted["optimizer"],
        learning_rate=wanted["learning_rate"], momentum=wanted["momentum"], method=wanted["initializer"],
        readout=wanted["readout"], log=print)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"settings": wanted, "records": records, "environment": environment(),
                             "seconds": time.perf_counter() - start})


def read_coord_check(workdir):
    """coord_check.json's content, or None when the workdir has none."""
    path = pathlib.Path(workdir) / COORD_FILE
    return read_json(path) if path.exists() else None
