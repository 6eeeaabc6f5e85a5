"""Speed and cost tables: `python -m benchmarks.<name>` from a checkout (benchmarks/README.md)."""

import sys

if sys.argv[:1] == ["-m"]:  # `python -m benchmarks.<name>` is starting
    # The library first: as a command line it keeps TensorFlow's C++ start-up log out of
    # the terminal (`initializers._console`), before a benchmark imports Keras.
    import initializers  # noqa: F401
