"""How the components read their inputs: unknown keys refused with a suggestion, Outputs
checked once they resolve (with the same messages as plain values), and references given as
a name or as the pulumi_kubernetes resource itself.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Optional, TypeVar

import pulumi

T = TypeVar("T")


def schema_name(python_name: str) -> str:
    """`tls_secret_name` -> `tlsSecretName`: how other languages and messages name an input."""
    return re.sub(r"_([a-z0-9])", lambda m: m[1].upper(), python_name)


def known(value: Any) -> bool:
    """Whether `value` holds no Output anywhere (its whole content is known now)."""
    if isinstance(value, pulumi.Output):
        return False
    if isinstance(value, Mapping):
        return all(known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(known(v) for v in value)
    return True


def refuse_unknown_keys(given: Mapping[str, Any], allowed: Collection[str], where: str = "") -> None:
    """ValueError naming the first key of `given` not in `allowed`, with the closest allowed
    one: a misspelled input would otherwise be silently ignored."""
    for key in given:
        if key in allowed:
            continue
        guess = difflib.get_close_matches(str(key).lower(), sorted(allowed), n=1, cutoff=0.6)
        hint = f"; did you mean {where}{guess[0]}?" if guess else ""
        raise ValueError(f"{where}{key}: unknown input{hint} (the inputs are listed in "
                         "TemporalWorkerArgs)")


class InputError(ValueError, pulumi.RunError):
    """A component input refused. A `pulumi.RunError` too, so `pulumi up` prints the one
    message and exits non-zero instead of printing a traceback of the program."""


class Checker:
    """Runs a check now on a known value, or once an Output resolves, with one message form:
    `<component> <name>: <reason>`. A check raises ValueError with the reason."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, reason: str) -> InputError:
        return InputError(f"{self.label}: {reason}")

    def run(self, check: Callable[[], T]) -> T:
        try:
            return check()
        except ValueError as err:
            raise self.fail(_reason(err)) from None

    def checked(self, value: pulumi.Input[T], check: Callable[[Any], Any]) -> pulumi.Input[T]:
        """`value` after `check`: checked now when known (its ValueError propagates, for the
        caller's `run` to label), else when it resolves (anything built from the returned
        Output waits for the check)."""
        if known(value):
            check(value)
            return value
        return pulumi.Output.from_input(value).apply(lambda v: (self.run(lambda: check(v)), v)[1])


def _reason(err: ValueError) -> str:
    message = getattr(err, "message", None)
    return message(str) if callable(message) else str(err)


def reference(args: Mapping[str, Any], name_key: str, resource_key: str,
              resource_type: type, *, namespace: Optional[pulumi.Input[str]] = None,
              check: Optional[Checker] = None, where: Optional[str] = None
              ) -> Optional[pulumi.Input[str]]:
    """The object name an input refers to: given by name (`name_key`) or as the resource
    (`resource_key`), never both. None when neither is given.

    With `namespace` (the worker's), a resource must be in that namespace, since pods can only
    use Secrets of their own: once both are known, the name resolves, or fails (through
    `check`, naming `where`). A resource whose namespace is empty is taken as it is: the
    Kubernetes provider fills in the namespace it lands in when it creates it."""
    name, resource = args.get(name_key), args.get(resource_key)
    if name is not None and resource is not None:
        raise ValueError(f"{schema_name(name_key)}: give it or {schema_name(resource_key)}, "
                         "not both")
    if resource is None:
        return name
    if not isinstance(resource, resource_type):
        raise ValueError(f"{schema_name(resource_key)}: expected a "
                         f"{resource_type.__module__.split('.')[0]} "
                         f"{resource_type.__name__} resource, got {type(resource).__name__}")
    if namespace is None:
        return resource.metadata.apply(lambda meta: _field(meta, "name"))
    label = where or schema_name(resource_key)

    def in_namespace(values: list[Any]) -> Any:
        meta, expected = values
        found, actual = _field(meta, "name"), _field(meta, "namespace")
        if actual and expected and actual != expected:
            raise ValueError(f"{label}: {resource_type.__name__} {found} is in namespace "
                             f"{actual}, not in the worker's namespace {expected}: pods can "
                             f"only use {resource_type.__name__}s of their own namespace")
        return found

    return pulumi.Output.all(resource.metadata, namespace).apply(
        lambda values: check.run(lambda: in_namespace(values)) if check
        else in_namespace(values))


def _field(meta: Any, key: str) -> Any:
    """A field of ObjectMeta, as a dict (from a program) or the output type (from state)."""
    return meta.get(key) if isinstance(meta, Mapping) else getattr(meta, key, None)
