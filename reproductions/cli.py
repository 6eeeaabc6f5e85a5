"""Command-line pieces shared by the reproduction drivers."""

import argparse
import sys

from reproductions import data


def add_common_arguments(parser, profiles, default_profile, default_workdir):
    parser.add_argument("--profile", choices=list(profiles), default=default_profile,
                        help=f"experiment size: {', '.join(profiles)} (default: %(default)s); "
                             "see the config module's docstring for each one's runtime")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to run (default: the profile's); each seed is one run per "
                             "initializer, and every initializer gets the same seeds")
    parser.add_argument("--dataset", choices=data.DATASETS, default=None,
                        help="dataset (default: the profile's; shapeset3x2 is generated offline, "
                             "the others come through TFDS and need a prepared --data-dir offline)")
    parser.add_argument("--data-dir", default=None, help="TFDS data folder (default: TFDS's own)")
    parser.add_argument("--workdir", default=default_workdir,
                        help="experiment folder: runs, figures and report go here; an interrupted "
                             "sweep resumes from it (default: %(default)s)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw figures and report from the logs in --workdir, without training")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs of the same scalars into each run folder")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def exit_on_unavailable_dataset(function):
    """Runs `function()`; a dataset that cannot be had offline ends with advice, not a trace."""
    try:
        return function()
    except data.DatasetUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def make_parser(description):
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
