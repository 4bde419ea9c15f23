"""Reading the benchmark's files: a JSON list of objects (the published form, read with
``json.load`` as ``scripts/utils/utils.py load_json`` does) or JSON Lines (one object a line);
every error names the file and the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError
from mmlens.core.jsonlines import json_lines


def read_rows(path: Path, what: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` for every object in the file; ``where`` is "FILE, row N" or "FILE, line N"."""
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{what} {path}: cannot read it as UTF-8 text ({error})") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{what} {path}: not valid JSON ({error.msg}, line {error.lineno})") from None
        numbered = [(f"{path}, row {i}", item) for i, item in enumerate(items)]
    else:
        numbered = []
        for line in json_lines(text.splitlines()):
            where = f"{path}, line {line.number}"
            if line.error is not None:
                raise DataError(f"{where}: {line.error}")
            numbered.append((where, line.value))
    rows = []
    for where, item in numbered:
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(item).__name__}")
        rows.append((where, item))
    return rows


def text_field(row: dict[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value:
        raise DataError(f"{where}: {name!r} must be a non-empty string")
    return value
