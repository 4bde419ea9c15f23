"""Published results as data: what a paper reports for a model on a task, to set beside a run.

A reported result names the task, the model (its name as published and ``models:``, shell globs
matched case-insensitively against a run's model label and against the label with its backend
options, ``hf:org/some-vlm-7b*`` or ``constant (text=yes*``), the metric of the run it corresponds to
(default: the task's primary metric), the number as published, ``scale`` (the factor from the run's
metric to the paper's units: 100 for an accuracy of 0-1 published as a percentage, 0.1 for
OCRBench's Final Score published out of 100), the source (paper and table), and the settings the
paper states (free keys: prompt, resolution, chain_of_thought, ...), with ``profile`` (the task
profile that scores as the paper did) and ``n`` (the questions the paper scored) compared with the
run's own. Three places hold them, all read as data (none is in a task's version hash):

- ``reported.yaml`` beside a task file (a benchmark folder's published numbers)::

      reported:
        - {task: textvqa_val, model: Some-VLM 7B, models: ["hf:org/some-vlm-7b*"], value: 80.1,
           scale: 100, source: "Some-VLM paper (arXiv 0000.00000), Table 3", profile: minicpm_v}

- ``reported:`` of a suite in a suite file (the model paper a suite reproduces);
- any YAML file under ``--include`` with a top-level ``reported:`` key (and no task or suite keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmlens.core.errors import ConfigError
from mmlens.core.task import TASK_ONLY_KEYS, YAML_LOADER, yaml_error_line

REPORTED_FILE = "reported.yaml"


class ReportedResult(BaseModel):
    """One published number (see the module's description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    model: str
    models: list[str] = Field(default_factory=list)
    metric: str | None = None
    value: float
    scale: float = Field(default=1.0, gt=0)
    source: str = Field(min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)
    profile: str | None = None
    n: int | None = Field(default=None, ge=1)
    origin: str = ""  # the file it was read from (set on loading, not written in the file)


def parse_reported(value: Any, where: str) -> list[ReportedResult]:
    """A ``reported:`` list, validated; a problem is one line naming ``where`` and the entry."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}reported: expected a list of published results")
    entries = []
    for index, item in enumerate(value):
        if isinstance(item, dict) and "origin" in item:
            raise ConfigError(f"{where}reported[{index}]: unknown key 'origin'")
        fields = item if isinstance(item, dict) else {}
        try:
            entries.append(ReportedResult.model_validate({**fields, "origin": where.rstrip(": .")}))
        except ValidationError as error:
            problem = error.errors()[0]
            loc = ".".join(str(part) for part in problem["loc"])
            raise ConfigError(
                f"{where}reported[{index}]{'.' + loc if loc else ''}: {problem['msg']}"
            ) from None
    return entries


def _read(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise ConfigError(f"reported file {path}: not valid YAML: {yaml_error_line(error)}") from None
    except OSError as error:
        raise ConfigError(f"reported file {path}: cannot read: {error.strerror}") from None


def read_reported_file(path: Path) -> list[ReportedResult]:
    """The ``reported:`` list of a file that has one (and no task or suite keys); else nothing."""
    data = _read(path)
    if not isinstance(data, dict) or "reported" not in data:
        return []
    if "suites" in data or any(key in data for key in TASK_ONLY_KEYS):
        return []
    return parse_reported(data["reported"], f"reported file {path}: ")


def load_reported(
    task_sources: Sequence[str | Path | None] = (), include: Sequence[str | Path] | None = None
) -> list[ReportedResult]:
    """Every published result visible: ``reported.yaml`` beside each of ``task_sources`` (task
    files), the built-in and included suites' ``reported:``, and ``reported:`` files under
    ``include``. Each file is read once."""
    from mmlens.core.suites import load_suites

    files: list[Path] = []
    for source in task_sources:
        if source:
            candidate = Path(source).parent / REPORTED_FILE
            if candidate.is_file():
                files.append(candidate.resolve())
    for folder in include or []:
        root = Path(folder)
        if root.is_file():
            files.append(root.resolve())
        elif root.is_dir():
            files += sorted(p.resolve() for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    entries: list[ReportedResult] = []
    for path in dict.fromkeys(files):
        entries += read_reported_file(path)
    for suite in load_suites(list(include or [])).values():
        entries += suite.reported
    return entries
