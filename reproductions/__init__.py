"""The reproduction drivers: `python -m reproductions.<paper>` from a checkout (the
scripts in scripts/ call them); see docs/experiments.md."""

import sys

if sys.argv[:1] == ["-m"]:  # `python -m reproductions.<paper>` is starting: see below
    # The library first, before any driver module imports Keras: as a command line, it
    # keeps TensorFlow's C++ start-up log out of the terminal (`initializers._console`).
    # Sweep workers (started with -c) and importers skip this: a worker sets its threads
    # before it imports a backend.
    import initializers  # noqa: F401
