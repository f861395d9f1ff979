"""python -m training COMMAND …   (see README "Training", or `python -m training --help`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
