"""`python -m initializers.doctor`: the init doctor's command line (`initializers.doctor.cli`)."""

import sys

from initializers.doctor.cli import main

if __name__ == "__main__":
    sys.exit(main())
