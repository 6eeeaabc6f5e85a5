"""What every reproduction driver shares: its command line, the sweep-then-redraw
`main`, and callbacks that read one fixed batch.

A driver is then a config module (profiles, `get_experiment`), a `redraw` that
writes figures and report from the run folders, and optionally callbacks, a
`prepare` step and an LR-search table; see `reproductions/blog_cases.py` for the
smallest one.
"""

import argparse
import pathlib
import sys

from reproductions import data, run_folder, sweeps
from reproductions.run_config import RunOptions
from reproductions.runs import load_runs


def add_common_arguments(parser, profiles, default_profile, default_workdir):
    parser.add_argument("--profile", choices=list(profiles), default=default_profile,
                        help=f"experiment size: {', '.join(profiles)} (default: %(default)s); "
                             "see the config module's docstring for each one's runtime")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to run (default: the profile's); each seed is one run per "
                             "initializer, and every initializer gets the same seeds")
    parser.add_argument("--dataset", choices=data.DATASETS, default=None,
                        help="dataset (default: the profile's; shapeset3x2 and shapeset_location are "
                             "generated offline, the others come through TFDS and need a "
                             "prepared --data-dir offline)")
    parser.add_argument("--data-dir", default=None, help="TFDS data folder (default: TFDS's own)")
    parser.add_argument("--workdir", default=default_workdir,
                        help="experiment folder: runs, figures and report go here; an interrupted "
                             "sweep resumes from it (default: %(default)s)")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw figures and report from the logs in --workdir, without training")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write TensorBoard logs into each run folder (<run>/tensorboard): "
                             "the same scalars, and the driver's diagnostics where it has them")
    parser.add_argument("--jobs", type=_positive_int, default=None,
                        help="worker processes training runs in parallel on this machine (default: "
                             "one per GPU, else one per CPU core with one thread each; 1: in this "
                             "process, with one line per evaluation)")
    parser.add_argument("--shard", default=None, metavar="K/N",
                        help="run only shard K of N (0 <= K < N) of the sweep, e.g. one task of a "
                             "Slurm array job sharing --workdir; redraw with --plot-only once all "
                             "shards are done")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local: worker processes on this machine (--jobs); dask: each group of "
                             "runs a task on a Dask cluster (--scheduler, or a local cluster)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask scheduler address for --engine dask (default: start a local "
                             "cluster of --jobs workers)")
    parser.add_argument("--distribute", action="store_true",
                        help="train each run data-parallel on every visible device "
                             "(tf.distribute.MirroredStrategy on TensorFlow, "
                             "keras.distribution.DataParallel on JAX); for full-size nets on "
                             "several GPUs; implies --jobs 1 unless --jobs is given")
    parser.add_argument("--group-size", type=_positive_int, default=sweeps.DEFAULT_GROUP_SIZE,
                        help="most runs that share a net (differing only in seed, learning rate, "
                             "initializer or parametrization) trained together as one program "
                             "(default: %(default)s); each run still writes its own folder")
    parser.add_argument("--no-fuse", action="store_true",
                        help="train each run alone (--group-size 1): the same results; slower for "
                             "small nets, not always for large ones (benchmarks/README.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--verbose", action="store_true",
                        help="let the backend's start-up log through (TensorFlow's C++ lines are kept "
                             "out of the terminal otherwise; initializers._console)")


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text}")
    return value


def _parse_shard(parser, text):
    try:
        return sweeps.Shard.parse(text) if text else None
    except ValueError as error:
        parser.error(str(error))


def exit_on_user_error(function):
    """Runs `function()`; a dataset that cannot be had offline, a workdir holding runs of
    another config, or a workdir that cannot be written, ends with advice and exit code 2,
    not a traceback."""
    try:
        return function()
    except (data.DatasetUnavailableError, run_folder.RunFolderConflictError,
            run_folder.WorkdirNotWritableError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def make_parser(description):
    return argparse.ArgumentParser(prog=_program_name(), description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _program_name():
    """"python -m reproductions.he2015" when the driver runs that way (argparse would say
    "__main__.py"), else None (argparse's default)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else None
    return f"python -m {name}" if name and name != "__main__" else None


def run_driver(argv, description, config_module, default_workdir, redraw, callbacks_for=None,
               prepare=None, search_report=None, expand=None):
    """The `main()` of every reproduction driver.

    Parses the common flags, sweeps the profile's configs x seeds (unless
    `--plot-only`), then redraws figures and report from the run folders. Exit codes:
    0 done; 1 some runs failed (named in the summary; rerun to retry them, nothing is
    redrawn); 2 bad input (a dataset not available offline, a workdir that cannot be
    written or holds runs of another config).

    Args:
        argv: command-line arguments (None: sys.argv).
        description: `--help` text (the driver's module docstring).
        config_module: module with `PROFILES`, `DEFAULT_PROFILE` and
            `get_experiment(profile, dataset, data_dir) -> (configs, seeds)`.
        default_workdir: default `--workdir`.
        redraw: `(workdir, profile, configs, runs) -> text` writing the figures and
            reports from the loaded runs; the text is printed at the end.
        callbacks_for: optional `(workdir, tensorboard) -> (config -> extra Keras
            callbacks)`; `tensorboard` is the `--tensorboard` flag.
        prepare: optional `(workdir, profile, configs, seeds) -> None`, run before
            the sweep (unless `--plot-only`), e.g. measurements at initialization.
        search_report: optional `runs -> markdown` for the `lr_search` profile: its
            text goes to `<workdir>/lr_search.md` instead of calling `redraw`.
        expand: optional `(workdir, configs, seeds) -> configs`, called after `prepare`
            (and before a `--plot-only` redraw): the sweep's configs once what `prepare`
            measured is known, e.g. runs from the doctor's recommendations.
    """
    parser = make_parser(description)
    add_common_arguments(parser, config_module.PROFILES, config_module.DEFAULT_PROFILE,
                         default_workdir)
    args = parser.parse_args(argv)
    configs, seeds = config_module.get_experiment(args.profile, args.dataset, args.data_dir)
    seeds = args.seeds or seeds
    if not args.plot_only:
        shard = _parse_shard(parser, args.shard)
        if not args.quiet:
            print(opening_lines(config_module, args, sweeps.plan(configs, seeds, shard)), file=sys.stderr)
        exit_on_user_error(lambda: run_folder.check_writable(args.workdir))  # before anything is written
        if prepare and (shard is None or shard.index == 0):  # one shard measures, not all
            exit_on_user_error(lambda: prepare(args.workdir, args.profile, configs, seeds))
        if expand:
            planned = len(configs)
            configs = expand(args.workdir, configs, seeds)
            if not args.quiet and len(configs) > planned:
                print(f"{(len(configs) - planned) * len(seeds)} more runs from what was measured before the "
                      "sweep", file=sys.stderr)
        options = RunOptions(tensorboard=args.tensorboard, distribute=args.distribute,
                             callbacks_for=callbacks_for(args.workdir, args.tensorboard)
                             if callbacks_for else None)
        failed = sweeps.failed_runs(_sweep(args, configs, seeds, shard, options))
        if failed:
            print(f"not redrawn: {len(failed)} runs failed (see above)", file=sys.stderr)
            sys.exit(1)
        if shard is not None and not all(run_folder.is_finished(config, args.workdir)
                                         for config in sweeps.plan(configs, seeds)):
            print(f"shard {shard} done; once every shard is, redraw with --plot-only "
                  f"--workdir {args.workdir}")
            return
    elif expand:
        configs = expand(args.workdir, configs, seeds)
    _redraw(args, configs, redraw, search_report)


def opening_lines(config_module, args, runs):
    """What a driver says before it starts: the profile, the runs it will train (and how
    many are already finished in the workdir), and the profile's measured runtime, with
    the machine it was measured on (the config's `MEASURED_RUNTIMES`)."""
    experiment = config_module.__name__.rsplit(".", 1)[-1]
    finished = sum(run_folder.is_finished(run, args.workdir) for run in runs)
    jobs = args.jobs or (1 if args.distribute else sweeps.default_jobs())
    to_train = f"{len(runs) - finished} to train, {finished} already finished" if finished else "all to train"
    default = " (default)" if args.profile == config_module.DEFAULT_PROFILE else ""
    measured = getattr(config_module, "MEASURED_RUNTIMES", {}).get(args.profile)
    runtime = f"measured: {measured}" if measured else "runtime: not measured for this profile"
    fusion = "--no-fuse" if args.no_fuse else f"--group-size {args.group_size}"
    return (f"{experiment}, profile {args.profile}{default}: {len(runs)} runs ({to_train}) in {args.workdir}, "
            f"--jobs {jobs}, {fusion}\n{runtime}")


def _sweep(args, configs, seeds, shard, options):
    """The sweep the command line asks for: local workers, or a Dask cluster."""
    jobs = args.jobs or (1 if args.distribute else sweeps.default_jobs())
    executor = sweeps.dask_executor(args.scheduler, jobs) if args.engine == "dask" else None
    try:
        results = exit_on_user_error(
            lambda: sweeps.sweep(configs, seeds, args.workdir, jobs=jobs, shard=shard, executor=executor,
                                 verbose=not args.quiet, options=options,
                                 group_size=1 if args.no_fuse else args.group_size))
    finally:
        if executor is not None:
            executor.close()
    if args.quiet:  # the sweep's own summary is silenced too
        print(sweeps.failure_summary(results), file=sys.stderr, end="")
    return results


def _redraw(args, configs, redraw, search_report):
    """Figures and reports (or the LR-search table) from the finished run folders."""
    runs = load_runs(args.workdir, configs)
    if not runs:
        raise SystemExit(f"error: no finished runs of this profile in {args.workdir}/runs; "
                         "run without --plot-only first")
    if args.profile == "lr_search" and search_report:
        text = search_report(runs)
        (pathlib.Path(args.workdir) / "lr_search.md").write_text(text)
    else:
        text = redraw(args.workdir, args.profile, configs, runs)
    if not args.quiet:
        print(f"\n{text}\nfigures and reports in {args.workdir}")


class FixedBatchCallbacks:
    """A `callbacks_for` for `run_driver` whose callbacks share one fixed batch.

    Picklable (so sweep workers and cluster tasks can build the callbacks where the
    run trains) when `load_batch` and `make_callbacks` are module-level functions.

    Args:
        load_batch: `(dataset, data_dir) -> batch`, called once per dataset and data
            folder in each process (every run there on that dataset shares the batch).
        make_callbacks: `(config, batch, run_dir, tensorboard) -> [callbacks]`.

    Calling it with `(workdir, tensorboard)` gives the `config -> [callbacks]` function
    a sweep uses.
    """

    def __init__(self, load_batch, make_callbacks):
        self.load_batch, self.make_callbacks = load_batch, make_callbacks

    def __call__(self, workdir, tensorboard=False):
        return _BoundCallbacks(self, str(workdir), tensorboard)


class _BoundCallbacks:
    def __init__(self, factory, workdir, tensorboard):
        self.factory, self.workdir, self.tensorboard = factory, workdir, tensorboard
        self._batches = {}

    def __getstate__(self):  # the batches stay behind; each process loads its own
        return {**self.__dict__, "_batches": {}}

    def __call__(self, config):
        key = (config.dataset, config.data_dir)
        if key not in self._batches:
            self._batches[key] = self.factory.load_batch(*key)
        return self.factory.make_callbacks(config, self._batches[key],
                                           run_folder.run_dir_of(config, self.workdir), self.tensorboard)
