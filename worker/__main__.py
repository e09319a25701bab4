"""`python -m worker`: run the Temporal worker configured by the environment."""

import sys

from worker.main import main

sys.exit(main())
