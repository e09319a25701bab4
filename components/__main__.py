"""The Pulumi plugin's entry point: hosts the components so every Pulumi language can use them.

Pulumi runs this file when a program names this directory (or its Git repository) in
`pulumi package add` or in `packages:`; the schema is inferred from the components' type
annotations and docstrings.
"""

import tomllib
from pathlib import Path

from pulumi.provider.experimental import component_provider_host

from temporal_worker_k8s import COMPONENTS, PACKAGE

if __name__ == "__main__":
    project = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]
    component_provider_host(components=COMPONENTS, name=PACKAGE, version=project["version"])
