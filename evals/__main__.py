"""`python -m evals [options]` is `qa eval [options]`: the logic lives in qa.evaluation."""

import sys

from qa.cli import main

raise SystemExit(main(["eval", *sys.argv[1:]]))
