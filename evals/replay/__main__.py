import sys

from evals.replay.cli import main

sys.exit(main())
