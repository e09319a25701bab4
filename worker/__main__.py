"""`python -m worker`: run the Temporal worker configured by the environment."""

import logging
import os
import sys

from worker.main import main

code = main()
# The work is drained and the logs are written. Skip interpreter finalization: SDK Core (Rust)
# threads can still call into Python while it runs, which aborts the process with
# "PyGILState_Release ... finalizing" (SIGABRT) after a clean drain, in a few exits in 20.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
