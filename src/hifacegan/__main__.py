"""``python -m hifacegan`` runs the command-line interface."""

import sys

from hifacegan.cli import main

sys.exit(main())
