"""``mmlens plan TASK``: the requests a run would send, without sending any (no model is called).

It prints, per sample, each first-round request: who answers it (the role), its kind, the messages
exactly as the model would see them (media as content digests) and the generation settings or the
scored continuation. Requests of later rounds depend on the answers and are planned during a run.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from mmlens.api import plan
from mmlens.cli.parser import add_model_options, add_task_options, transform_options
from mmlens.cli.registry import command
from mmlens.cli.run_config import add_video_options, overrides_from_options, video_from_args
from mmlens.core.errors import MmlensError

DIGEST_SHOWN = 8  # hex digits of a media digest shown in the text rendering
HEX = re.compile(r"[0-9a-f]+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="task name (mmlens list tasks)")
    add_task_options(parser)
    add_model_options(parser, default=None, shortcuts=False)
    parser.add_argument("--seed", type=int, default=0, help="the seed of run --seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON instead of text")
    parser.add_argument("--output", metavar="FILE", help="write the plan as JSON to FILE")
    add_video_options(parser)


@command("plan", "show the requests a run would send (no model is called)", add_arguments)
def plan_command(args: argparse.Namespace) -> int:
    planned = plan(
        args.task,
        data=args.data,
        limit=args.limit,
        include=args.include,
        profile=args.profile,
        model=args.model,
        model_args=args.model_args,
        seed=args.seed,
        transforms=transform_options(args) or None,
        generation=overrides_from_options(**video_from_args(args)) or None,
    ).to_dict()
    if args.output:
        write_plan(Path(args.output), planned)
        print(f"wrote {args.output}: {describe(planned)}")
    elif args.json:
        print(json.dumps(planned, indent=2, ensure_ascii=False))
    else:
        print(format_plan(planned))
    return 0


def write_plan(path: Path, planned: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(planned, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise MmlensError(f"--output {path}: cannot write it ({error.strerror or error})") from None


def describe(planned: dict[str, Any]) -> str:
    samples = planned.get("samples", [])
    requests = sum(len(sample.get("requests", [])) for sample in samples)
    later = "; later rounds depend on the answers" if planned.get("later_rounds") else ""
    return f"{len(samples)} sample(s), {requests} first-round request(s){later}"


def format_plan(planned: dict[str, Any]) -> str:
    """The plan as text: a header, then per sample its id and each request with its messages."""
    lines = [f"task {planned.get('task')}: {describe(planned)}"]
    if planned.get("id_scheme"):
        lines.append(f"ids: {planned['id_scheme']}")
    if planned.get("model"):
        lines.append(f"model: {planned['model']}")
    for role, default in (planned.get("roles") or {}).items():
        given = f"the task's default is {default}" if default else f"none by default: pass --role {role}=SPEC"
        lines.append(f"role {role}: {given}")
    for bad in planned.get("bad_samples", []):
        lines.append(f"bad sample {bad.get('id')}: {bad.get('reason')}")
    for sample in planned.get("samples", []):
        lines += ["", f"sample {sample.get('id')}"]
        requests = sample.get("requests", [])
        for number, request in enumerate(requests, start=1):
            lines.append(f"  request {number}/{len(requests)}: {request.get('role')} {request.get('kind')}")
            lines += _format_request(request)
    if planned.get("later_rounds"):
        lines += ["", "later rounds (a next turn, a judge's call) depend on the answers; a run plans them"]
    return "\n".join(lines)


def _format_request(request: dict[str, Any]) -> list[str]:
    lines = []
    for message in request.get("messages", []):
        lines.append(f"    [{message.get('role')}]")
        for part in message.get("content", []):
            lines += ["      " + line for line in _format_part(part).splitlines() or [""]]
    if "settings" in request:
        settings = ", ".join(f"{k}={json.dumps(v)}" for k, v in request["settings"].items())
        lines.append(f"    settings: {settings}")
    if "continuation" in request:
        lines.append(f"    continuation: {json.dumps(request['continuation'], ensure_ascii=False)}")
    lines += [f"    {line}" for frames in request.get("frames", []) for line in _format_frames(frames)]
    return lines


def _format_frames(frames: dict[str, Any]) -> list[str]:
    """``frames of [video sha256:…]: 32 of 300 (10 fps) by videomme, pyav 18.1.0`` and the times."""
    sampling = frames.get("sampling", {})
    rule = f"by {sampling.get('rule')}, {sampling.get('decoder')}"
    head = f"frames of [video {short_digest(str(frames.get('video')))}]"
    if "error" in frames:
        return [f"{head}: {rule}; {frames['error']}"]
    count = len(frames.get("indices", []))
    lines = [f"{head}: {count} of {frames.get('frame_count')} ({frames.get('fps'):g} fps) {rule}"]
    lines.append("  indices " + ", ".join(str(index) for index in frames.get("indices", [])))
    lines.append("  at " + ", ".join(f"{time:g}" for time in frames.get("times", [])) + " s")
    return lines


def _format_part(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind in ("image", "video"):
        shown = f"[{kind} {short_digest(str(part.get(kind)))}]"
        if part.get("subtitles"):
            shown += f"\nsubtitles: {part['subtitles']}"
        return shown
    return json.dumps(part, ensure_ascii=False)


def short_digest(digest: str) -> str:
    """``sha256:abcd1234…`` from ``sha256:<64 hex digits>``; a key that is not a long hex digest (a
    generator's ``gen:shapes-v1:0:3``, a missing file's ``absent:<path>``) is shown whole."""
    scheme, colon, value = digest.rpartition(":")
    if len(value) <= DIGEST_SHOWN or HEX.fullmatch(value) is None:
        return digest
    return f"{scheme}{colon}{value[:DIGEST_SHOWN]}…"
