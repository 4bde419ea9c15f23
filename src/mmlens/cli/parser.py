"""The argument parser and the options several commands share."""

from __future__ import annotations

import argparse
import importlib
import json
import re
from pathlib import Path
from typing import Any, TypedDict

import mmlens
from mmlens.api import resolve_model_spec
from mmlens.cli.registry import COMMAND_MODULES, COMMANDS
from mmlens.core.errors import MmlensError
from mmlens.core.paths import default_store_path, redacted, store_location
from mmlens.core.select import selection_spec
from mmlens.models.base import parse_model_args
from mmlens.runner.roles import RoleInput

# A role name as it appears in task files and in the store: a word, e.g. "judge" or "embedder".
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad options as one line, through the same path as other user errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise MmlensError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="mmlens", description="Evaluate multimodal LLMs on published benchmarks.")
    parser.add_argument("--version", action="version", version=f"mmlens {mmlens.__version__}")
    add_store_option(parser, None)
    subparsers = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    for module_name in COMMAND_MODULES:
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
    order = {name: index for index, name in enumerate(COMMAND_MODULES)}
    commands = sorted(COMMANDS.values(), key=lambda c: order.get(c.run.__module__, len(order)))
    for entry in commands:
        command = subparsers.add_parser(entry.name, help=entry.help, description=entry.help)
        entry.add_arguments(command)
        if not any("--store" in action.option_strings for action in command._actions):
            # also after the command (`mmlens run shapes --store X`); absent there, the global one holds
            add_store_option(command, argparse.SUPPRESS)
    return parser


def _store_option(text: str) -> str:
    store_location(text, "--store")  # a scheme mmlens cannot use: one line, before any work
    return text


def add_store_option(parser: argparse.ArgumentParser, default: Any) -> None:
    try:
        location = default_store_path()
        shown = str(location) if isinstance(location, Path) else redacted(location)
    except MmlensError:  # MMLENS_STORE names no store mmlens can use: said when a command opens it
        shown = "$MMLENS_STORE"
    parser.add_argument(
        "--store",
        type=_store_option,
        default=default,
        help=f"the results/response database: a SQLite file (a path or sqlite:///PATH) or a "
        f"PostgreSQL server (postgresql://USER@HOST:PORT/DATABASE) (default {shown}; "
        "or set MMLENS_STORE / MMLENS_HOME)",
    )


# Options of the commands that load a task ------------------------------------------------------


def add_task_options(parser: argparse.ArgumentParser, several_tasks: bool = False) -> None:
    if several_tasks:  # mmlens run: one --data per task
        parser.add_argument(
            "--data",
            action="append",
            default=[],
            metavar="[TASK=]PATH",
            help="local copy of a task's data in its published format; TASK=PATH for one of several "
            "tasks (TASK: a task or benchmark name); repeatable",
        )
    else:
        parser.add_argument("--data", help="local copy of the benchmark data in its published format")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="folder (or YAML file) with more task definitions; repeatable",
    )
    parser.add_argument("--profile", help="a named scoring profile of the task (e.g. lmms-eval)")
    parser.add_argument("--limit", type=int, help="use only the first N samples")
    parser.add_argument(
        "--transform",
        action="append",
        default=[],
        metavar="NAME[:ARGS]",
        help="apply a transform to the task's samples (e.g. circular, blind, "
        "corrupt_image:gaussian_noise@3); repeatable, applied in order after the task's own",
    )
    parser.add_argument(
        "--select",
        metavar="AXIS=VALUE[|VALUE],...",
        help="only the samples with these values of the task's axes, e.g. modality=CT|MR,department=Urology "
        "(GMAI-MMBench's lexical tree); results break down by each selected axis",
    )


def transform_options(args: argparse.Namespace) -> list[str | dict[str, Any]]:
    """--transform, with --select as the transform ``select`` in front (mmlens.core.select)."""
    selection = getattr(args, "select", None)
    return [*([selection_spec(selection, "--select")] if selection else []), *(args.transform or [])]


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options every command that loads a task shares (see add_task_options)."""
    return {
        "data": args.data,
        "limit": args.limit,
        "include": args.include,
        "profile": args.profile,
        "transforms": transform_options(args) or None,
    }


# The model under test ---------------------------------------------------------------------------


def add_model_options(parser: argparse.ArgumentParser, default: str | None, shortcuts: bool = True) -> None:
    parser.add_argument(
        "--model",
        default=default,
        help="BACKEND[:NAME] or a model YAML file" + (f" (default {default})" if default else ""),
    )
    parser.add_argument("--model-args", help="backend options, k=v,k2=v2")
    if shortcuts:
        parser.add_argument(
            "--base-url",
            action="append",
            help="shortcut for --model-args base_url=URL; repeated: replicas of one model, each request "
            "sent to one with room (--concurrency per replica; one that dies is taken out)",
        )
        parser.add_argument("--concurrency", type=int, help="shortcut for --model-args concurrency=N")


def model_args_text(args: argparse.Namespace) -> str | None:
    """--model-args with the --base-url and --concurrency shortcuts appended."""
    extra = []
    base_urls = getattr(args, "base_url", None) or []
    if isinstance(base_urls, str):
        base_urls = [base_urls]
    if len(base_urls) == 1:
        extra.append(f"base_url={base_urls[0]}")
    elif base_urls:
        extra.append(f"base_urls={json.dumps(base_urls)}")
    if getattr(args, "concurrency", None) is not None:
        extra.append(f"concurrency={args.concurrency}")
    parts = [p for p in [args.model_args, *extra] if p]
    return ",".join(parts) or None


# Roles: the other models of a run (a judge, an embedder, ...) -----------------------------------


def add_role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judge",
        metavar="SPEC",
        action="append",
        help="the judge model (BACKEND[:NAME] or YAML file); same as --role judge=SPEC; given again, "
        "the next judges of a panel (roles judge-2, judge-3, ...: agreement in results.json judging)",
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="the model of a named role (e.g. judge=openai:gpt-4o); repeatable",
    )
    parser.add_argument(
        "--role-args",
        action="append",
        default=[],
        metavar="NAME=k=v,...",
        help="backend options of a role, split at the first '=' "
        "(e.g. judge=base_url=http://127.0.0.1:8000/v1,concurrency=8); repeatable",
    )


def _name_and_value(option: str, text: str, expected: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    name = name.strip()
    if not equals or not value.strip() or not ROLE_NAME.fullmatch(name):
        raise MmlensError(f"{option}: expected {expected}, got {text!r}")
    return name, value.strip()


class RoleOptions(TypedDict, total=False):
    """The keyword arguments of mmlens.api.evaluate and score that name a run's roles."""

    roles: dict[str, RoleInput]  # role name -> model spec text ("openai:gpt-4o", "hf:/path", a YAML file)
    role_args: dict[str, str]  # role name -> its backend options, "k=v,k2=v2"


def role_options(args: argparse.Namespace) -> RoleOptions:
    """``roles`` and ``role_args`` for mmlens.api from --judge, --role and --role-args; empty if none given.

    Each role is named once; its spec is validated (nothing is loaded) and its args must be ``k=v``
    items, so that a mistake fails before any work with an error naming the option."""
    roles: dict[str, RoleInput] = {}
    options: dict[str, str] = {}  # role name -> the option that named it, for messages
    judges = [args.judge] if isinstance(args.judge, str) else list(args.judge or [])
    for position, judge in enumerate(judges):
        if not judge.strip():
            raise MmlensError("--judge: expected a model SPEC (BACKEND[:NAME] or a model YAML file)")
        name = "judge" if position == 0 else f"judge-{position + 1}"
        roles[name] = judge.strip()
        options[name] = f"--judge {roles[name]}"
    for text in args.role:
        name, spec = _name_and_value("--role", text, "NAME=SPEC")
        if name in roles:
            also = " (--judge SPEC is --role judge=SPEC)" if name == "judge" and args.judge else ""
            raise MmlensError(f"--role {name}: the role is given twice{also}")
        roles[name] = spec
        options[name] = f"--role {name}={spec}"
    role_args: dict[str, str] = {}
    for text in args.role_args:
        name, items = _name_and_value("--role-args", text, "NAME=k=v,k2=v2")
        if name in role_args:
            raise MmlensError(f"--role-args {name}: given twice (put all its options in one k=v,k2=v2 list)")
        _check_key_values(name, items)
        role_args[name] = items
    for name, value in roles.items():  # parsed and validated, nothing loaded: fails before any work
        try:
            resolve_model_spec(value, role_args.get(name))
        except MmlensError as error:
            raise MmlensError(f"{options[name]}: {error}") from None
    if not roles and not role_args:
        return RoleOptions()
    return RoleOptions(roles=roles, role_args=role_args)


def _check_key_values(role: str, options: str) -> None:
    try:
        parse_model_args(options)
    except MmlensError as error:
        problem = str(error).removeprefix("--model-args: ")
        raise MmlensError(f"--role-args {role}: {problem}") from None
