"""`python -m studio` is the same as the `studio` command."""

import multiprocessing

from studio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
