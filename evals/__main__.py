"""`python -m evals [options]` is `qa eval [options]`: the logic lives in qa.evaluation."""

import sys

from qa.cli import main

if __name__ == "__main__":  # worker processes (encode_devices) import this module again
    raise SystemExit(main(["eval", *sys.argv[1:]]))
