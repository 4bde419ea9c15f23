"""The README's shell blocks are copy-paste safe: no placeholder (``M``, ``hf:M``, ``RUN_A``,
``[RUNS...]``, ``<file>``, ``...``) stands where a command needs a real value."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

PLACEHOLDERS = (
    re.compile(r"^(?:[a-z_]+:)?[A-Z]$"),  # M, hf:M
    re.compile(r"^(?:[a-z_]+:)?[A-Z]+_[A-Z0-9_]*$"),  # RUN_A, TASK_NAME (an env assignment has an =)
    re.compile(r"^\["),  # [RUNS...], [--port N]
    re.compile(r"<[^>]*>"),  # <run id>, hf:<model>
    re.compile(r"(^|[=:/])\.\.\.$"),  # ..., KEY=...
)


def shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, command text) of each line of a bash block, comments and heredoc bodies left out."""
    found, in_block, heredoc = [], False, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() == "```bash" and not in_block
            heredoc = None
            continue
        if not in_block:
            continue
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        command = re.sub(r"(^|\s)#.*$", "", line).strip()
        marker = re.search(r"<<-?\s*'?(\w+)'?", command)
        if marker:
            heredoc = marker.group(1)
        if command:
            found.append((number, command))
    return found


def placeholders(command: str) -> list[str]:
    try:
        words = shlex.split(command.rstrip("\\"))
    except ValueError:
        words = command.split()
    return [word for word in words if any(pattern.search(word) for pattern in PLACEHOLDERS)]


def test_shell_blocks_have_no_placeholders() -> None:
    text = README.read_text(encoding="utf-8")
    bad = [
        f"line {n}: {command} ({', '.join(words)})"
        for n, command in shell_lines(text)
        if (words := placeholders(command))
    ]
    assert bad == [], "placeholders in README shell blocks:\n" + "\n".join(bad)


def test_python_blocks_name_real_models() -> None:
    text = README.read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL))
    strings = re.findall(r"[\"']([^\"'\n]*)[\"']", code)
    assert [word for word in strings if any(pattern.search(word) for pattern in PLACEHOLDERS[:2])] == []


def test_the_checker_finds_placeholders() -> None:
    assert placeholders("mmlens run mmstar --model hf:M --transform likelihood") == ["hf:M"]
    assert placeholders("mmlens report RUN_A RUN_B -o ab.html") == ["RUN_A", "RUN_B"]
    assert placeholders("mmlens view [RUNS...] [--port 8765]") == ["[RUNS...]", "[--port"]
    assert placeholders("export OPENAI_API_KEY=...") == ["OPENAI_API_KEY=..."]
    assert placeholders("HF_TOKEN=hf_x mmlens push --tag paper") == []


def test_the_readme_names_the_shipped_reference_weights_sha256() -> None:
    import hashlib

    weights = README.parent / "src" / "mmlens" / "models" / "weights" / "reference_shapes_v1.npz"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert f"sha256\n`{digest}`" in README.read_text(encoding="utf-8").replace(" `", "\n`")
