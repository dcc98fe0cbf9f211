"""``python -m llebench ...`` (and ``torchrun ... -m llebench run ...``): the command line."""

import sys

from llebench.cli import main

sys.exit(main())
