"""`python -m worker`: run the Temporal worker configured by the environment."""

import logging
import os
import sys

from worker import settings

# The settings first, with the standard library and the spec only: a refused setting is
# reported (exit 2) before the SDK and the worker's modules load.
try:
    config = settings.load()
except settings.SettingsError as err:
    print(f"configuration error: {err}", file=sys.stderr)
    code = settings.EXIT_BAD_SETTINGS
else:
    from worker.main import main

    code = main(config)
# The work is drained and the logs are written. Skip interpreter finalization: SDK Core (Rust)
# threads can still call into Python while it runs, which aborts the process with
# "PyGILState_Release ... finalizing" (SIGABRT) after a clean drain, in a few exits in 20.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
