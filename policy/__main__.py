"""The policy pack's entry point: the engine runs `python -u -m pulumi.policy ENGINE <this
directory>` in the pack's venv, which runs this file; it serves the analyzer over gRPC."""

from temporal_worker_policy.pack import serve

serve()
