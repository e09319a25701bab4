"""The contract between TemporalWorker and the worker process: the settings spec, the fixed
paths and ports, and the TLS material checks. Standard library only (`cryptography` is imported
by the TLS checks when they run), so a worker image can ship it without Pulumi.

    from temporal_worker_spec import SETTINGS, from_env, resolve
"""

from temporal_worker_spec.resolve import (REFERENCE, EnvError, Resolved, from_env, on_side, parse,
                                          resolve)
from temporal_worker_spec.settings import BY_NAME, RULES, SETTINGS, Invalid, Rule, Setting

__all__ = ["BY_NAME", "REFERENCE", "RULES", "SETTINGS", "EnvError", "Invalid", "Resolved", "Rule", "Setting",
           "from_env", "on_side", "parse", "resolve"]
