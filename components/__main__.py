"""The Pulumi plugin's entry point: hosts the components so every Pulumi language can use them.

Pulumi runs this file when a program names this directory (or its Git repository) in
`pulumi package add` or in `packages:`; the schema is inferred from the components' type
annotations and docstrings. It serves them as `pulumi.provider.experimental`'s
`component_provider_host` would, with a provider that also takes Outputs for enum, integer
and object inputs (`temporal_worker_k8s.plugin`).
"""

import sys
import tomllib
from pathlib import Path

from pulumi.provider import main

from temporal_worker_k8s import COMPONENTS, PACKAGE
from temporal_worker_k8s.plugin import OutputInputsComponentProvider

if __name__ == "__main__":
    project = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]
    main(OutputInputsComponentProvider(COMPONENTS, PACKAGE, version=project["version"]),
         sys.argv[1:])
