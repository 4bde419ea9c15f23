"""Which subtitle lines go with a video's sampled frames: rules, by name, as the benchmarks' own
scripts pick them. Subtitle files are parsed with pysubs2.

``videomme`` (default): Video-MME's extractor (look4u-ok/video-slicer ``slice_and_extract.py``,
linked from the Video-MME README): for each sampled frame, the time
``pysubs2.make_time(fps=fps, frames=index)``; the first cue with ``start < t < end`` (strict);
its text with ``\\N`` as a space (pysubs2 drops SRT ``<font>`` tags and writes ``<i>`` as
``{\\i1}``, as there); a frame without a cue, or a blank cue, adds nothing; repeats are kept;
lines joined by newlines.

``lmms_eval``: lmms-eval's ``videomme_doc_to_text_subtitle``: its own ``frame_num`` frames
(``np.linspace(0, total - 1, frame_num, dtype=int)``, default 32, whatever the model is shown),
cue frames ``int(seconds * fps)``, a frame in ``[start, end)``, every matching cue, the cue
numbers de-duplicated through a Python set (its iteration order), and of each cue only the first
``<font color="white" size=".72c">...</font>`` text (a cue without it is dropped); no subtitle
file gives ``No subtitles available``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmlens.core.errors import ConfigError, DataError
from mmlens.core.registry import Registry
from mmlens.media.decoders import VideoInfo
from mmlens.media.sampling import linspace_indices

NO_SUBTITLES_LMMS_EVAL = "No subtitles available"
LMMS_EVAL_FONT = re.compile(r'<font color="white" size=".72c">(.*?)</font>')


def load_cues(path: Path, keep_html_tags: bool = False) -> Any:
    """The subtitle file as a pysubs2 SSAFile; a file pysubs2 cannot read is a DataError naming it."""
    import pysubs2

    try:
        return pysubs2.load(str(path), encoding="utf-8", keep_html_tags=keep_html_tags)
    except (OSError, UnicodeDecodeError, ValueError, pysubs2.exceptions.Pysubs2Error) as error:
        raise DataError(f"unreadable subtitle file {path}: {error}") from None


def videomme_lines(
    path: Path | None, info: VideoInfo, frames: list[int], selection: SubtitleSelection
) -> list[str]:
    import pysubs2

    if path is None:
        return []
    cues = load_cues(path)
    lines = []
    for index in frames:
        time = pysubs2.make_time(fps=info.fps, frames=index)
        text = ""
        for cue in cues:
            if cue.start < time and cue.end > time:
                text = cue.text.replace("\\N", " ")
                break
        if text.strip():
            lines.append(text)
    return lines


def lmms_eval_lines(
    path: Path | None, info: VideoInfo, frames: list[int], selection: SubtitleSelection
) -> list[str]:
    if path is None:
        return [NO_SUBTITLES_LMMS_EVAL]
    by_range: dict[tuple[float, float], str] = {}  # a repeated time range keeps its last text
    for cue in load_cues(path, keep_html_tags=True):
        by_range[(_seconds(cue.start), _seconds(cue.end))] = cue.text.replace("\\N", " ")
    cue_frames = [
        (int(start * info.fps), int(end * info.fps), text) for (start, end), text in by_range.items()
    ]
    count = info.frame_count if selection.frames == -1 else selection.frames
    matched = [
        number
        for index in linspace_indices(info.frame_count, count)
        for number, (start, end, _) in enumerate(cue_frames)
        if start <= index < end
    ]
    lines = []
    for number in list(set(matched)):
        found = LMMS_EVAL_FONT.findall(cue_frames[number][2])
        if found:
            lines.append(found[0])
    return lines


def _seconds(milliseconds: int) -> float:
    # as lmms-eval's parse_subtitle_time adds them: whole seconds + int(ms) / 1000
    return milliseconds // 1000 + (milliseconds % 1000) / 1000


SubtitleRule = Callable[[Path | None, VideoInfo, list[int], "SubtitleSelection"], list[str]]
subtitle_rules: Registry[SubtitleRule] = Registry("subtitle rule")
subtitle_rules.add("videomme", videomme_lines)
subtitle_rules.add("lmms_eval", lmms_eval_lines)


@dataclass(frozen=True)
class SubtitleSelection:
    """rule: a name in ``subtitle_rules``; frames: the rule's own frame count where it has one
    (``lmms_eval``'s ``frame_num``; -1 = every frame); 0 = the frames the model is shown."""

    rule: str = "videomme"
    frames: int = 0

    def __post_init__(self) -> None:
        if self.rule not in subtitle_rules:
            raise ConfigError(subtitle_rules.unknown_message(self.rule))

    def lines(self, path: Path | None, info: VideoInfo, frames: list[int]) -> list[str]:
        return subtitle_rules.get(self.rule)(path, info, frames, self)
