"""TemporalWorker's inputs checked and resolved: the spec-backed ones parsed with their
defaults, Outputs checked once they resolve (with the same messages), Secret and Namespace
references, the builds of a versioned rollout, and the pod spec the Deployments share.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

import temporal_worker_spec as spec
from temporal_worker_k8s import pod, production
from temporal_worker_k8s.inputs import (Checker, known, reference, refuse_unknown_keys,
                                       schema_name)
from temporal_worker_k8s.worker_args import SecretKeyRef, TemporalWorkerArgs, Toleration
from temporal_worker_spec import values as spec_values
from temporal_worker_spec import contract
from temporal_worker_spec.settings import KEDA_API_KEY_PRIVATE_CA

BUILD_ID_KIND = spec_values.build_id()


def apply(value: pulumi.Input[Any], function) -> Any:
    """`function(value)` now when `value` is known, else once it resolves."""
    return function(value) if known(value) else pulumi.Output.from_input(value).apply(function)


def tls_of(settings: Mapping[str, Any]) -> pulumi.Input[bool]:
    """TLS as set, or on whenever a client certificate, server CA or API key is given."""
    tls = settings.get("tls")
    if tls is None:
        tls = bool(settings["tlsSecret"] or settings["serverCaSecret"] or settings["apiKey"])
    return tls


STRUCTURAL = frozenset({"create_namespace", "autoscaling", "rollout", "build_id", "versions",
                        "pod_disruption_budget", "topology_spread", "network_policy",
                        "pod_monitor", "prometheus_rule", "grafana_dashboard",
                        "app_name"})
"""Inputs that decide which Kubernetes objects exist: plain values, never Outputs."""
PLAIN_INPUTS = STRUCTURAL | {"pod_spec"}
"""Inputs the schema marks plain: STRUCTURAL, and podSpec, whose field names are checked
against PodSpec when the program runs (its values may be Outputs)."""
SECRET_KEY_REF_KEYS = frozenset(SecretKeyRef.__annotations__)
TOLERATION_KEYS = frozenset(Toleration.__annotations__)
ENV_NAMES = spec_values.env_map(lambda: pod.COMPONENT_ENV)
"""The settings spec's check of variable names (secretEnv's), with the variables the
component sets itself as the reserved ones."""


def checked_settings(args: TemporalWorkerArgs, check: Checker) -> dict[str, Any]:
    """Every input checked and resolved: the spec-backed ones parsed (with defaults), names
    of referenced objects, Secret references as {name, key}, the builds. Known values are
    checked now; Outputs when they resolve, with the same messages."""
    refuse_unknown_keys(args, TemporalWorkerArgs.__annotations__)
    for key in sorted(STRUCTURAL & set(args)):
        if not known(args[key]):
            raise ValueError(f"{schema_name(key)}: must be a plain value, not an Output: it "
                             "decides which Kubernetes objects exist, which Pulumi must know "
                             "when the program runs")
    if not args.get("image"):
        raise ValueError("image: required")
    namespace = reference(args, "namespace", "namespace_resource", k8s.core.v1.Namespace)
    if not namespace:
        raise ValueError("namespace: required (the namespace's name, or namespaceResource)")
    if args.get("create_namespace") and args.get("namespace_resource") is not None:
        raise ValueError("createNamespace: not with namespaceResource, which exists already")
    inputs = {**args, "image_pull_secret": reference(
        args, "image_pull_secret", "image_pull_secret_resource", k8s.core.v1.Secret,
        namespace=namespace, check=check)}
    given = {s.name: inputs.get(s.python_name) for s in spec.SETTINGS
             if spec.on_side(s, "arg") and inputs.get(s.python_name) is not None}
    unknown = frozenset(n for n, v in given.items() if not known(v))
    references = frozenset(s.name for s in spec.SETTINGS
                           if s.arg and s.secret and args.get(s.python_name))
    resolved = spec.resolve({n: s.kind.text(given[n]) for n, s in spec.BY_NAME.items()
                             if n in given and n not in unknown}, "arg", unknown,
                            references).values
    for setting_name in unknown:
        setting = spec.BY_NAME[setting_name]
        resolved[setting_name] = pulumi.Output.from_input(given[setting_name]).apply(
            lambda v, s=setting: check.run(lambda: spec.parse(s, s.kind.text(v))))
    resolved["image"] = check.checked(args["image"], lambda image: _image(check, image))
    resolved["namespace"] = namespace
    resolved["tlsSecret"] = reference(args, "tls_secret_name", "tls_secret", k8s.core.v1.Secret,
                                      namespace=namespace, check=check)
    resolved["serverCaSecret"] = reference(args, "server_ca_secret_name", "server_ca_secret",
                                           k8s.core.v1.Secret, namespace=namespace,
                                           check=check)
    resolved["apiKey"] = _secret_key_ref(check, args.get("temporal_api_key"), "temporalApiKey",
                                         namespace)
    resolved["secretEnv"] = _secret_env(check, args.get("secret_env"), namespace)
    resolved["env"] = check.checked(args.get("env") or {}, lambda env: _env(env, args))
    resolved["labels"] = check.checked(args.get("labels") or {}, _labels)
    resolved["annotations"] = args.get("annotations") or {}
    for index, toleration in enumerate(args.get("tolerations") or []
                                       if known(args.get("tolerations") or []) else []):
        refuse_unknown_keys(toleration, TOLERATION_KEYS, f"tolerations[{index}].")
    # Whether each Secret is given is known now, even when its name is an Output.
    if resolved["autoscaling"] == "keda" and resolved["apiKey"] is not None \
            and resolved["serverCaSecret"] is not None and resolved["tlsSecret"] is None:
        raise ValueError(spec.Invalid("autoscaling", KEDA_API_KEY_PRIVATE_CA).message(
            lambda n: _KEDA_INPUTS.get(n, spec.BY_NAME[n].python_name)))
    pod.pod_spec_fields(args.get("pod_spec", {}), _taken_pod_fields(resolved))
    resolved["builds"] = _builds(args, resolved)
    return resolved


def _image(check: Checker, image: str) -> None:
    try:
        spec_values.image_reference().parse(image)
    except ValueError as err:
        raise ValueError(f"image: {err}") from None
    if not spec_values.pinned_by_digest(image):
        pulumi.log.warn(f"{check.label}: image: {image} is not pinned by digest: the tag can "
                        "be moved to other content, and pods would not roll when it is; use "
                        "repository@sha256:<digest>")


def _secret_key_ref(check: Checker, ref: Any, where: str, namespace: pulumi.Input[str]) -> Any:
    """{name, key} of a Secret reference given by name or as the Secret (in `namespace`), or
    None."""
    if ref is None:
        return None

    def resolve(value: Mapping[str, Any]) -> Any:
        refuse_unknown_keys(value, SECRET_KEY_REF_KEYS, f"{where}.")
        name = reference(value, "name", "secret", k8s.core.v1.Secret, namespace=namespace,
                         check=check, where=f"{where}.secret")
        if not name or not value.get("key"):
            raise ValueError(f"{where}: needs key and name (or secret)")
        return {"name": name, "key": value["key"]}

    if isinstance(ref, pulumi.Output):
        return ref.apply(lambda value: pulumi.Output.from_input(check.run(lambda: resolve(value))))
    return resolve(ref)


def _secret_env(check: Checker, given: Any, namespace: pulumi.Input[str]) -> Any:
    """secretEnv with checked names and each reference as {name, key}."""
    if given is None:
        return {}

    def resolve(value: Mapping[str, Any]) -> dict[str, Any]:
        _names("secretEnv", value)
        return {n: _secret_key_ref(check, ref, f"secretEnv.{n}", namespace)
                for n, ref in value.items()}

    if isinstance(given, pulumi.Output):
        return given.apply(lambda value: pulumi.Output.from_input(check.run(lambda: resolve(value))))
    return resolve(given)


def _names(where: str, variables: Mapping[str, Any]) -> None:
    """Variable names as the settings spec checks secretEnv's, and none the component sets."""
    try:
        ENV_NAMES.parse(json.dumps({name: "set" for name in variables}))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _env(env: Mapping[str, Any], args: TemporalWorkerArgs) -> None:
    _names("env", env)
    secret_env = args.get("secret_env")
    if known(secret_env or {}):
        for variable in sorted(set(env) & set(secret_env or {})):
            raise ValueError(f"env: {variable} is also in secretEnv")


def _labels(labels: Mapping[str, Any]) -> None:
    for label in sorted(set(labels) & set(pod.selector_labels("", "", ""))):
        raise ValueError(f"labels: {label} is set by the component")


@dataclass(frozen=True)
class Build:
    """One build the component runs: the new image, or an older version kept while routed to."""

    build_id: Optional[str]
    """None with the rolling strategy (no worker versioning)."""
    image: pulumi.Input[str]
    replicas: pulumi.Input[int]
    own_count: bool = False
    """The count was given for this build (an older version), not taken from the inputs."""

    @property
    def scaled_down(self) -> bool:
        """A drained build kept at 0 pods until its Deployment goes."""
        return self.own_count and isinstance(self.replicas, int) and self.replicas == 0

    @property
    def suffix(self) -> str:
        """What tells this build's objects apart: nothing for the one rolling Deployment."""
        return f"-{self.build_id}" if self.build_id else ""


def _builds(args: TemporalWorkerArgs, settings: Mapping[str, Any]) -> list[Build]:
    """The new build first, then the older versions still to run (versioned rollouts only)."""
    if settings["rollout"] == "rolling":
        if args.get("versions"):
            raise ValueError("versions: needs rollout allAtOnce or progressive")
        return [Build(None, settings["image"], settings["replicas"])]
    build_id = args.get("build_id") or _build_id_of(args["image"])
    builds = [Build(_checked_build_id("buildId", build_id), settings["image"],
                     settings["replicas"])]
    for index, version in enumerate(args.get("versions", [])):
        older = _checked_build_id(f"versions[{index}].buildId", version.get("build_id"))
        if older in {b.build_id for b in builds}:
            raise ValueError(f"versions[{index}].buildId: {older} is listed twice (or is the "
                             "new build)")
        builds.append(Build(older, version["image"],
                             version.get("replicas", settings["replicas"]),
                             own_count="replicas" in version))
    return builds


def _build_id_of(image: pulumi.Input[str]) -> str:
    try:
        return spec_values.build_id_of(image)
    except ValueError:
        raise ValueError("buildId: required with a versioned rollout unless image is a plain "
                         "reference pinned by digest (repo@sha256:...)") from None


def _checked_build_id(where: str, build_id: Any) -> str:
    try:
        return BUILD_ID_KIND.parse(build_id if isinstance(build_id, str) else repr(build_id))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


_KEDA_INPUTS = {"tlsServerCa": "server_ca_secret_name", "tlsCert": "tls_secret_name"}
"""Spec settings the component takes under other input names (a Secret, not the PEM)."""


def _taken_pod_fields(settings: Mapping[str, Any]) -> frozenset[str]:
    """PodSpec fields podSpec may not set: the component's, those with inputs of their own."""
    taken = {"image_pull_secrets"} if settings.get("imagePullSecret") else set()
    if settings.get("topologySpread"):
        taken.add("topology_spread_constraints")
    return frozenset(taken)


def pod_spec_of(args: TemporalWorkerArgs, settings: Mapping[str, Any],
              selector: Mapping[str, str], account: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
    tls_secret, ca_secret = settings["tlsSecret"], settings["serverCaSecret"]
    api_key = settings["apiKey"]
    vols, mounts = pod.volumes(tls_secret, ca_secret, api_key)
    probes = {kind: apply(settings["probeMode"], lambda mode, kind=kind: pod.probes(mode)[kind])
              for kind in ("startup", "liveness", "readiness")}
    container = k8s.core.v1.ContainerArgs(
        name="worker",
        image=settings["image"],
        image_pull_policy="IfNotPresent",
        command=list(contract.ENTRYPOINT),
        env=pod.worker_env({n: v for n, v in settings.items() if n != "tls"},
                           tls=tls_of(settings), tls_secret=tls_secret is not None,
                           server_ca_secret=ca_secret is not None, extra=settings["env"],
                           secret_refs=settings["secretEnv"], api_key_file=api_key is not None),
        ports=[k8s.core.v1.ContainerPortArgs(name=pod.HEALTH_PORT_NAME,
                                             container_port=contract.HEALTH_PORT),
               k8s.core.v1.ContainerPortArgs(name=pod.METRICS_PORT_NAME,
                                             container_port=contract.METRICS_PORT)],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests={"cpu": settings["cpuRequest"], "memory": settings["memoryRequest"]},
            limits={"cpu": settings["cpuLimit"], "memory": settings["memoryLimit"]}),
        startup_probe=probes["startup"],
        liveness_probe=probes["liveness"],
        readiness_probe=probes["readiness"],
        volume_mounts=mounts,
        security_context=pod.container_security_context(),
    )
    grace = pulumi.Output.from_input(settings["gracefulShutdownSeconds"]).apply(
        contract.termination_grace_period_seconds)
    fields: dict[str, Any] = {
        "containers": [container],
        "volumes": vols,
        "automount_service_account_token": False,
        "enable_service_links": False,
        "termination_grace_period_seconds": grace,
        "security_context": pod.pod_security_context(),
        "service_account_name": account,
    }
    for arg in pod.DEDICATED_POD_FIELDS:
        if args.get(arg) and arg not in fields:
            fields[arg] = args[arg]
    if settings["topologySpread"]:
        fields["topology_spread_constraints"] = production.topology_spread(selector)
    if settings.get("imagePullSecret"):
        fields["image_pull_secrets"] = [
            k8s.core.v1.LocalObjectReferenceArgs(name=settings["imagePullSecret"])]
    fields.update(pod.pod_spec_fields(args.get("pod_spec", {}), _taken_pod_fields(settings)))
    return k8s.core.v1.PodSpecArgs(**fields)
