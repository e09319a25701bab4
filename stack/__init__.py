"""This repository's Pulumi stack: config -> settings -> component inputs -> exports.

The component package (`components/`) never reads stack config; this package does, and turns it
into the package's inputs. Importing this package puts `components/` on the path: the program
loads the component package from source, because requirements.txt holds only hash-checked
packages and pip cannot hash a directory.
"""

import sys
from pathlib import Path

_COMPONENTS = str(Path(__file__).resolve().parent.parent / "components")
if _COMPONENTS not in sys.path:
    sys.path.insert(0, _COMPONENTS)
