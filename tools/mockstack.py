"""Run the real `__main__.py` under Pulumi mocks and return every resource and export it produced.

The one harness shared by tests/program and the offline render command. No Pulumi CLI, engine,
provider plugin, Docker or cluster is used. Interface:

    run_stack(config, *, stack="dev", project="temporal-worker", image_digest=None) -> StackRun

- `config` maps bare keys ("replicas") or full keys ("temporal-worker:replicas") to the string
  values `pulumi config set` would store; objects (secretEnv) are JSON strings. Keys named in
  `secret_keys` (default: the spec's secret settings) are passed as secret config, as
  `pulumi config set --secret` would.
- The mocked `docker:index/image:Image` gets `repoDigest = <repository>@<digest>`, where the digest
  is `image_digest` when given (e.g. from a real push), else `PLACEHOLDER_DIGEST`.
- Errors raised by the program (e.g. the config ValueError) propagate unchanged; the resources
  registered before the error are attached as `error.registered_resources`.
- Each call runs in a fresh thread with its own event loop and context, so no Pulumi runtime
  state (settings, config, root stack) leaks between runs, and it works inside a running loop.

`run_program(program, config, ...)` does the same for any callable (e.g. one that builds a single
component), for component tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import runpy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func

import temporal_worker_spec as spec
from stack.config import PROJECT

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
# Keys `pulumi config set --secret` would store, for this project's stack.
SECRET_KEYS: tuple[str, ...] = tuple(s.name for s in spec.SETTINGS if s.config and s.secret)
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
IMAGE_TYPE = "docker:index/image:Image"
RANDOM_BYTES_TYPE = "random:index/randomBytes:RandomBytes"



@dataclass(frozen=True)
class MockResource:
    """One registered resource, as the engine would have received it."""

    type_: str
    """Type token, e.g. `kubernetes:apps/v1:Deployment`."""
    name: str
    """Logical (Pulumi) name."""
    urn: str
    """URN, including the parent type chain."""
    parent: str
    """URN of the parent resource ('' for the stack's direct children)."""
    custom: bool
    """True for provider resources, False for components."""
    inputs: dict
    """Inputs with secrets unwrapped to plain values (whole-number floats as ints)."""
    secret_paths: frozenset
    """Paths (tuples of keys / indexes) into `inputs` that arrived marked secret; see is_secret."""
    alias_types: tuple = ()
    """Types the resource was known as before (its aliases), so old stacks keep it."""
    secret_outputs: tuple = ()
    """Outputs the program asked the engine to store as secrets (additionalSecretOutputs)."""
    dependencies: tuple = ()
    """URNs of the resources it waits for (depends_on and the Outputs in its inputs)."""

    def is_secret(self, *path: Any) -> bool:
        """True when the input at `path` is secret (Pulumi marks a whole object secret when any
        value inside it is, so a secret parent counts)."""
        return any(path[:n] in self.secret_paths for n in range(len(path) + 1))

    def get(self, *path: Any, default: Any = None) -> Any:
        """The input at `path` (keys and indexes), or `default` if any step is missing."""
        value: Any = self.inputs
        for step in path:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return default
        return value


@dataclass(frozen=True)
class StackRun:
    """Everything one mocked run produced."""

    resources: list[MockResource]
    """Resources in registration order, components included."""
    exports: dict
    """Stack outputs, resolved to plain values."""
    secret_exports: frozenset = frozenset()
    """Names of the exports Pulumi marked secret."""
    warnings: list[str] = field(default_factory=list)
    """Messages the program logged with pulumi.log.warn."""
    image_digest: str = PLACEHOLDER_DIGEST
    """The digest the mocked image reported."""

    @property
    def image_digest_is_placeholder(self) -> bool:
        """True when no real digest was given, so rendered image references are not pullable."""
        return self.image_digest == PLACEHOLDER_DIGEST

    def of_type(self, type_: str) -> list[MockResource]:
        """All resources of one type token."""
        return [r for r in self.resources if r.type_ == type_]

    def one(self, type_: str, name: Optional[str] = None) -> MockResource:
        """The single resource of `type_` (and `name`, when given); AssertionError otherwise."""
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise AssertionError(f"expected one {type_} named {name!r}, found {names}")
        return found[0]

    def kubernetes_objects(self) -> list[MockResource]:
        """The Kubernetes objects (custom `kubernetes:*` resources), in registration order."""
        return [r for r in self.resources if r.custom and r.type_.startswith("kubernetes:")]


def full_key(name: str, project: str = PROJECT) -> str:
    """`replicas` -> `temporal-worker:replicas`; already namespaced keys are kept."""
    return name if ":" in name else f"{project}:{name}"


def load_stack_config(stack: str, project: str = PROJECT) -> dict[str, str]:
    """The plain config of `Pulumi.<stack>.yaml` as strings, the way run_stack takes them."""
    import yaml  # test-time dependency; the program itself does not need it

    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    values = {}
    for name, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            raise ValueError(f"{name}: encrypted values cannot be read without the Pulumi CLI")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        values[full_key(name, project)] = str(value)
    return values


def run_stack(config: Mapping[str, str], *, stack: str = "dev", project: str = PROJECT,
              image_digest: Optional[str] = None, main: Path = MAIN,
              secret_keys: Optional[tuple[str, ...]] = None) -> StackRun:
    """Run a program's `__main__.py` (default: this stack's) for `config` under mocks; see the
    module docstring."""
    return run_program(lambda: runpy.run_path(str(main), run_name="__main__"), config,
                       stack=stack, project=project, image_digest=image_digest,
                       secret_keys=secret_keys)


def run_program(program: Callable[[], Any], config: Mapping[str, str] = MappingProxyType({}),
                *, stack: str = "test", project: str = PROJECT,
                image_digest: Optional[str] = None,
                secret_keys: Optional[tuple[str, ...]] = None) -> StackRun:
    """Run `program` (which registers resources) under mocks, like run_stack does `__main__.py`."""
    outcome: dict[str, Any] = {}
    secret = SECRET_KEYS if secret_keys is None else secret_keys

    def target() -> None:
        try:
            outcome["run"] = _run(program, config, stack, project,
                                  image_digest or PLACEHOLDER_DIGEST, secret)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=target, name=f"mockstack-{stack}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["run"]


class _Mocks(pulumi_mocks.Mocks):
    def __init__(self, digest: str):
        self.digest = digest

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        if args.typ == RANDOM_BYTES_TYPE:
            # Stands for bytes the provider draws once and keeps in state: fixed per name.
            value = hashlib.sha256(f"random:{args.name}".encode()).digest()
            value = value[:int(_unwrap(args.inputs.get("length", 32)))]
            state.update(base64=base64.b64encode(value).decode(), hex=value.hex())
        elif args.typ == IMAGE_TYPE:
            repository = _repository(_unwrap(args.inputs.get("imageName", "")))
            state["repoDigest"] = f"{repository}@{self.digest}"
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(_unwrap(state.get("metadata")) or {})
            metadata.setdefault("name", args.name)
            state["metadata"] = metadata
        return f"{args.name}-id", state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks):
        super().__init__(mocks)
        self.records: list[MockResource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = rpc.deserialize_properties(request.object)
            secret_paths = frozenset(_secret_paths(raw, ()))
            with self._lock:
                self.records.append(MockResource(
                    type_=request.type, name=request.name, urn=response.urn,
                    parent=request.parent, custom=bool(request.custom),
                    inputs=_unwrap(raw), secret_paths=secret_paths,
                    alias_types=tuple(a.spec.type for a in request.aliases
                                      if a.HasField("spec") and a.spec.type),
                    secret_outputs=tuple(request.additionalSecretOutputs),
                    dependencies=tuple(request.dependencies)))
        return response


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run(program: Callable[[], Any], config: Mapping[str, str], stack: str, project: str,
         digest: str, secret_keys: tuple[str, ...]) -> StackRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    failed: list[BaseException] = []
    loop.set_exception_handler(lambda loop, context: _unhandled(loop, context, failed))
    collector = _Collector()
    logger = logging.getLogger(f"mockstack.{id(collector)}")
    logger.propagate = False
    logger.addHandler(collector)
    monitor = _RecordingMonitor(_Mocks(digest))
    try:
        full = {full_key(k, project): str(v) for k, v in config.items()}
        secret = [full_key(k, project) for k in secret_keys if full_key(k, project) in full]
        pulumi.runtime.set_all_config(full, secret)
        pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False,
                                 logger=logger, monitor=monitor)
        try:
            loop.run_until_complete(run_pulumi_func(program))
        except BaseException as err:
            err.registered_resources = tuple(monitor.records)  # type: ignore[attr-defined]
            failed.append(err)
            _abandon(loop)
            raise
        exports, secret_exports = loop.run_until_complete(_resolve_exports())
        return StackRun(resources=list(monitor.records), exports=exports,
                        secret_exports=frozenset(secret_exports),
                        warnings=list(collector.messages), image_digest=digest)
    finally:
        logger.removeHandler(collector)
        loop.close()
        asyncio.set_event_loop(None)


def _unhandled(loop: asyncio.AbstractEventLoop, context: dict[str, Any],
               failed: list[BaseException]) -> None:
    """The loop's handler for errors nobody awaited: after a failed run, drop them silently.

    A failed run leaves the Outputs of the resources it registered resolved with its error
    (already raised to the caller), and nothing awaits them. When the garbage collector frees
    them, asyncio's default handler logs each error with its traceback, and Python 3.11 parses
    source lines with `ast` to format one. A collection can start inside another `ast.parse`
    (pytest's assertion rewriting, `inspect.getsource` in Pulumi's schema inference); CPython
    before 3.11.8 then fails that outer parse with "AST constructor recursion depth mismatch"
    (gh-106905), and Pulumi's schema inference silently drops the docstrings of the class it
    was reading: a description missing at random in whichever process ran a failed run first.
    """
    if failed and "exception" in context:
        return
    loop.default_exception_handler(context)


def _abandon(loop: asyncio.AbstractEventLoop) -> None:
    """After a failed run: end the RPCs still in flight and forget them and the Outputs the SDK
    tracks, so the next run (that state is process-wide) waits on nothing of this closed
    loop."""
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    pulumi.runtime.settings._get_rpc_manager().clear()
    pulumi.runtime.settings.SETTINGS.outputs.clear()


async def _resolve_exports() -> tuple[dict, list[str]]:
    root = pulumi.runtime.get_root_resource()
    exports, secret = {}, []
    for name, value in getattr(root, "outputs", {}).items():
        output = pulumi.Output.from_input(value)
        exports[name] = await output.future()
        if await output.is_secret():
            secret.append(name)
    return exports, secret


def _secret_paths(value: Any, path: tuple) -> Iterator[tuple]:
    if rpc.is_rpc_secret(value):
        yield path
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _secret_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _secret_paths(v, path + (i,))


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # The wire format has only doubles; Kubernetes fields here are all integers.
        return int(value)
    return value


def _repository(image_name: str) -> str:
    head, _, last = image_name.rpartition("/")
    last = last.split("@", 1)[0].split(":", 1)[0]
    return f"{head}/{last}" if head else last


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m tools.mockstack PROGRAM_DIR --project P [--set KEY=VALUE ...]`: run a Pulumi
    Python program under these mocks and print its resources and exports as JSON (used to run
    the examples from a venv that installed the component package)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tools.mockstack", description=main.__doc__)
    parser.add_argument("program", type=Path, help="directory with the program's __main__.py")
    parser.add_argument("--project", required=True)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY",
                        help="config keys to pass as secrets")
    args = parser.parse_args(argv)
    config = dict(item.split("=", 1) for item in args.set)
    run = run_stack(config, stack=args.stack, project=args.project,
                    main=args.program / "__main__.py", secret_keys=tuple(args.secret))
    print(json.dumps({
        "resources": [{"type": r.type_, "name": r.name, "urn": r.urn, "parent": r.parent,
                       "inputs": r.inputs} for r in run.resources],
        "exports": run.exports,
    }, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
