"""`python -m ttrnn ...`: the command line."""

from ttrnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
