"""Model roles: the model under test plus named roles (``judge``, an embedder, a scoring model).

A task names the roles its metric and transforms need (``Metric.roles()``, ``Transform.roles()``)
and may give each a default (its official judge) under ``roles:`` in its YAML; ``--role NAME=SPEC``
/ ``--judge SPEC`` override it. Each role's fingerprint is part of the run identity and its
provenance says where it came from, so a run with another judge is never mistaken for one with the
official judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmlens.core.errors import ConfigError, MmlensError
from mmlens.core.requests import MODEL_ROLE, canonical_json
from mmlens.core.results import RoleProvenance
from mmlens.core.task import RoleDefault, Task
from mmlens.models.base import (
    Model,
    ModelSpec,
    build_model,
    parse_model_args,
    parse_model_spec,
    validate_model_spec,
)

RoleInput = str | ModelSpec | Model
RoleSource = Literal["task default", "given"]


def _identity(spec: ModelSpec | Model) -> tuple[str, str, str]:
    """Backend, name and validated options: two specs with the same identity are the same model."""
    if isinstance(spec, Model):
        return (spec.backend, spec.name, canonical_json(spec.args.model_dump(mode="json")))
    _, args = validate_model_spec(spec)
    return (spec.backend, spec.name, canonical_json(args.model_dump(mode="json")))


@dataclass
class RoleChoice:
    """A role's model before it is loaded."""

    name: str
    spec: ModelSpec | Model
    source: RoleSource
    default_label: str | None  # the task's own default for this role, if it has one
    default_spec: ModelSpec | None = None  # that default with its options

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def is_default(self) -> bool:
        """The role's model is the task's default: same backend, name and options (not just label)."""
        return self.default_spec is not None and _identity(self.spec) == _identity(self.default_spec)


def _spec(value: RoleInput, args: str | None, where: str) -> ModelSpec | Model:
    if isinstance(value, Model):
        if args:
            raise ConfigError(f"{where}: --role-args cannot change a model that is already loaded")
        return value
    spec = value if isinstance(value, ModelSpec) else parse_model_spec(value, args)
    if args and isinstance(value, ModelSpec):
        spec = spec.model_copy(update={"args": {**spec.args, **parse_model_args(args)}})
    try:
        validate_model_spec(spec)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return spec


def _default_spec(default: RoleDefault, where: str) -> ModelSpec:
    """A task's default for a role, with the YAML's args as they are (not re-joined into "k=v"
    text, which breaks on commas and on non-string values)."""
    parsed = parse_model_spec(default.model)
    spec = parsed.model_copy(update={"args": {**parsed.args, **default.args}})
    try:
        validate_model_spec(spec)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    return spec


def choose_roles(
    task: Task, given: dict[str, RoleInput] | None = None, role_args: dict[str, str] | None = None
) -> dict[str, RoleChoice]:
    """The roles this task's run uses: the metric's, each from ``given`` or the task's default.

    Roles given but not used by this task are left out (a multi-task run may pass a judge that only
    some of its tasks need)."""
    given = dict(given or {})
    role_args = dict(role_args or {})
    if MODEL_ROLE in given:
        raise ConfigError(f"--role {MODEL_ROLE}=...: {MODEL_ROLE!r} is the model under test; use --model")
    unknown_args = sorted(set(role_args) - set(given) - set(task.config.roles))
    if unknown_args:
        raise ConfigError(f"--role-args {unknown_args[0]}=...: no role {unknown_args[0]!r} is given or used")
    chosen: dict[str, RoleChoice] = {}
    for name in task_roles(task):
        default = task.config.roles.get(name)
        default_label = default.label if default is not None else None
        where = f"task {task.name}: roles.{name}"
        default_spec = None
        if default is not None:
            try:
                default_spec = _default_spec(default, where)
            except MmlensError:
                if name not in given:
                    raise  # a given model replaces a default that does not validate
        if name in given:
            spec = _spec(given[name], role_args.get(name), f"--role {name}")
            chosen[name] = RoleChoice(name, spec, "given", default_label, default_spec)
        elif default_spec is not None:
            extra = role_args.get(name)
            spec = _spec(default_spec, extra, where) if extra else default_spec
            chosen[name] = RoleChoice(name, spec, "task default", default_label, default_spec)
        else:
            raise ConfigError(
                f"task {task.name} needs a {name!r} model: pass --role {name}=SPEC"
                + (" (or --judge SPEC)" if name == "judge" else "")
            )
    add_extra_judges(chosen, given, role_args)
    return chosen


def add_extra_judges(
    chosen: dict[str, RoleChoice], given: dict[str, RoleInput], role_args: dict[str, str]
) -> None:
    """The extra judges of a panel (``judge-2``, ``judge-3``, ...; ``--judge A --judge B``), kept when
    the task uses a judge; each is compared with the task's default judge (``is_default``)."""
    from mmlens.metrics.judge_governance import JUDGE_ROLE, is_judge_role

    primary = chosen.get(JUDGE_ROLE)
    if primary is None:
        return
    for name in sorted(given, key=lambda n: (len(n), n)):
        if name != JUDGE_ROLE and is_judge_role(name):
            spec = _spec(given[name], role_args.get(name), f"--role {name}")
            chosen[name] = RoleChoice(name, spec, "given", primary.default_label, primary.default_spec)


def extra_judges(chosen: dict[str, RoleChoice]) -> list[str]:
    """The panel's extra judge roles, in order (``judge-2`` before ``judge-10``)."""
    from mmlens.metrics.judge_governance import JUDGE_ROLE, is_judge_role

    return sorted((n for n in chosen if n != JUDGE_ROLE and is_judge_role(n)), key=lambda n: (len(n), n))


def task_roles(task: Task) -> list[str]:
    """The roles a task's run needs: its metric's, then its transforms' (an embedder for ICL)."""
    names = [*task.metric.roles(), *(name for t in task.transforms for name in t.roles())]
    return list(dict.fromkeys(names))


def load_roles(chosen: dict[str, RoleChoice]) -> dict[str, Model]:
    """Each role's model (a Model given as it is; a spec built). If one cannot be built, the ones
    built before it are closed."""
    models: dict[str, Model] = {}
    try:
        for name, choice in chosen.items():
            models[name] = choice.spec if isinstance(choice.spec, Model) else build_model(choice.spec)
    except BaseException:
        close_role_models(chosen, models)
        raise
    return models


def close_role_models(chosen: dict[str, RoleChoice], models: dict[str, Model]) -> None:
    """Close the role models built here from specs (a Model passed in stays open for its owner)."""
    for name, model in models.items():
        if not isinstance(chosen[name].spec, Model):
            model.close()


def role_provenance(chosen: dict[str, RoleChoice], models: dict[str, Model]) -> dict[str, RoleProvenance]:
    return {
        name: RoleProvenance(
            label=models[name].label,
            fingerprint=models[name].fingerprint(),
            source=choice.source,
            task_default=choice.default_label,
            is_task_default=choice.is_default,
        )
        for name, choice in chosen.items()
    }
