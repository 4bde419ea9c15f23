"""The index of the built-in tasks, generated from their YAML files.

    python scripts/task_index.py            # print the markdown table
    python scripts/task_index.py --write    # rewrite README.md between the task markers

The README's section between ``<!-- tasks:start -->`` and ``<!-- tasks:end -->`` is exactly what
this script prints (``tests/test_readme_index.py`` checks it): one row per task and variant with
the first line of its description, its sample id scheme and a link to its benchmark folder.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mmlens.core.task import BUILTIN_TASKS_DIR, TaskCatalog

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- tasks:start -->"
END = "<!-- tasks:end -->"


# A run of text holding <placeholders> ("<subtask>/<image file>/<k>", "</s>"): shown as code, so that
# markdown renderers do not take the placeholders for HTML tags.
_PLACEHOLDERS = re.compile(r"(?:[^\s,;:()<>]*<[^<>]+>)+[^\s,;:()<>]*")


def _cell(text: str) -> str:
    """One markdown table cell: a single line, placeholders as code, pipes escaped."""
    line = _PLACEHOLDERS.sub(lambda match: f"`{match.group(0)}`", " ".join(text.split()))
    return line.replace("|", "\\|")


def render_index() -> str:
    """The markdown table of every built-in task (variants included), sorted by name."""
    catalog = TaskCatalog()
    lines = ["| task | description | sample id (for `mmlens score`) | folder |", "|---|---|---|---|"]
    for name in catalog.names():
        entry = catalog.entries[name]
        folder = entry.path.parent.resolve()
        if folder.parent != BUILTIN_TASKS_DIR:
            continue  # a plugin's or --include task, not built in
        task = catalog.load(name)
        link = f"[tasks/{folder.name}](src/mmlens/tasks/{folder.name}/README.md)"
        lines.append(f"| `{name}` | {_cell(entry.description)} | {_cell(task.id_scheme)} | {link} |")
    return "\n".join(lines) + "\n"


def replace_section(text: str, index: str) -> str:
    """``text`` with the part between the task markers replaced by ``index``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} section")
    return text[: start + len(START)] + "\n" + index + text[end:]


def current_section(text: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} section")
    return text[start + len(START) : end].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The index of the built-in tasks, generated from their YAML files."
    )
    parser.add_argument("--write", action="store_true", help="rewrite the README section in place")
    parser.add_argument(
        "--readme", type=Path, default=README, help="the README to rewrite (default: the repository's)"
    )
    args = parser.parse_args(argv)
    index = render_index()
    if not args.write:
        sys.stdout.write(index)
        return 0
    text = args.readme.read_text(encoding="utf-8")
    updated = replace_section(text, index)
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
