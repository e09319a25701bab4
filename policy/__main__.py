"""The policy pack's entry point: the engine runs `python -u -m pulumi.policy ENGINE <this
directory>` in the pack's venv, which runs this file; it serves the analyzer over gRPC.

The checks read the settings spec (`temporal_worker_spec`, standard library only) from
../components, loaded from source as the program loads it: requirements.txt holds only
hash-checked packages, and pip cannot hash a directory."""

import sys
from pathlib import Path

_COMPONENTS = str(Path(__file__).resolve().parent.parent / "components")
if _COMPONENTS not in sys.path:
    sys.path.insert(0, _COMPONENTS)

from temporal_worker_policy.pack import serve  # noqa: E402 - needs the path above

serve()
