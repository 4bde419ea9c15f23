"""mmlens.core.select: parsing --select, and a selection on a task without axes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.errors import ConfigError
from mmlens.core.select import axis_name, parse_selection, selection_spec


def test_parse_selection() -> None:
    assert parse_selection("modality=CT|MR,department=Urology") == {
        "modality": ["CT", "MR"],
        "department": ["Urology"],
    }
    assert parse_selection("modality=CT,modality=MR") == {"modality": ["CT", "MR"]}
    assert parse_selection("department=Head, Neck") == {"department": ["Head, Neck"]}  # a comma in a value
    for bad in ("modality", "=CT", "modality=", ",modality=CT"):
        with pytest.raises(ConfigError, match="--select"):
            parse_selection(bad)


def test_axis_names_read_underscores_as_spaces() -> None:
    assert axis_name("Clinical_VQA-task") == axis_name("clinical vqa task")


def test_yaml_values() -> None:
    assert selection_spec({"modality": "CT", "n": [1, 2]}, "select") == {
        "type": "select",
        "criteria": {"modality": ["CT"], "n": ["1", "2"]},
    }
    with pytest.raises(ConfigError, match="select: modality: expected a value or a list"):
        selection_spec({"modality": []}, "select")


def test_a_task_without_axes_names_none(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="task shapes has no axis 'modality'; its axes: none"):
        api.evaluate(
            "shapes", "reference", transforms=["select:modality=CT"], output_dir=None, store=tmp_path / "s.db"
        )
