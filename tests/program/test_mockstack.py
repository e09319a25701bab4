"""The mocks harness itself: isolated runs, digests, config namespacing, use inside a loop."""

from __future__ import annotations

import asyncio
import gc
import logging

import pulumi
import pytest

from temporal_worker_k8s import TemporalWorker
from tests.program.helpers import DEPLOYMENT, SECRET, WORKER, container
from tools.mockstack import (PLACEHOLDER_DIGEST, full_key, load_stack_config, run_program,
                             run_stack)

IMAGE = "registry.example.com/team/worker@sha256:" + "cd" * 32


def test_runs_do_not_leak_config_or_resources_into_each_other(prod_config, dev_config):
    prod = run_stack(prod_config, stack="prod")
    dev = run_stack(dev_config, stack="dev")
    assert prod.of_type(SECRET) and not dev.of_type(SECRET)
    assert all(r.urn.startswith("urn:pulumi:dev::temporal-worker::") for r in dev.resources)
    assert all(r.urn.startswith("urn:pulumi:prod::temporal-worker::") for r in prod.resources)
    assert len({r.urn for r in dev.resources}) == len(dev.resources)


def test_full_and_bare_keys_are_equivalent(dev_config):
    bare = {k.split(":", 1)[1]: v for k, v in dev_config.items()}
    run = run_stack({**bare, "replicas": "2"})
    assert run.one(DEPLOYMENT, WORKER).get("spec", "replicas") == 2
    assert full_key("replicas") == "temporal-worker:replicas"
    assert full_key("kubernetes:context") == "kubernetes:context"


def test_placeholder_digest_is_flagged(dev_run):
    assert dev_run.image_digest_is_placeholder
    assert container(dev_run)["image"].endswith("@" + PLACEHOLDER_DIGEST)


def test_load_stack_config_reads_pulumi_dev_yaml_as_strings():
    config = load_stack_config("dev")
    assert config["temporal-worker:devServer"] == "true"
    assert all(isinstance(v, str) for v in config.values())


async def test_run_stack_works_inside_a_running_event_loop(dev_config):
    assert asyncio.get_running_loop()
    run = run_stack(dev_config)
    assert run.one(DEPLOYMENT, WORKER)


def test_program_errors_carry_the_resources_registered_so_far(dev_config):
    with pytest.raises(ValueError) as caught:
        run_stack({**dev_config, "replicas": "-3"})
    assert caught.value.registered_resources == ()


def test_a_failed_runs_unawaited_errors_are_never_logged_later(caplog):
    """A failed run leaves Outputs resolved with its error that nothing awaits (here the
    NetworkPolicy's). Whenever the garbage collector frees one, nothing may be logged:
    formatting the traceback parses source with `ast`, and when the collection starts inside
    another `ast.parse` (pytest's assertion rewriting, Pulumi's schema inference reading
    docstrings), CPython before 3.11.8 fails that parse (gh-106905), which made a schema
    description go missing at random under xdist. The test finalizes each leftover itself, as
    the collector would, at a moment it chooses."""
    def program():
        ports = pulumi.Output.from_input([0]).apply(lambda v: v)
        TemporalWorker("billing", {"image": IMAGE, "namespace": "billing",
                                   "temporal_address": "billing.example:7233",
                                   "egress_ports": ports})

    with pytest.raises(ValueError, match="egressPorts: item 0: must be between 1 and 65535"):
        run_program(program)
    leftovers = [o for o in gc.get_objects() if isinstance(o, asyncio.Future)
                 and o.done() and getattr(o, "_log_traceback", False)]
    assert leftovers, "the failed run left no unawaited error: the test proves nothing"
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        for future in leftovers:
            future.__del__()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
