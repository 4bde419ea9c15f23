"""Subtitle lines chosen for the sampled frames, on a real mp4 and real .srt files: Video-MME's
extractor rule (video-slicer) and lmms-eval's, each checked against lines worked out by hand
and against the official code transcribed here as the reference."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pysubs2
import pytest

from mmlens.core.errors import DataError
from mmlens.media.sampling import FrameSampling, plan_frames
from mmlens.media.subtitles import SubtitleSelection
from tests.fixtures.videos import make_srt, make_video
from tests.media.test_video_pipeline import official_get_seq_frames

FONT = '<font color="white" size=".72c">{}</font>'


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("subs") / "clip.mp4", frame_count=301, fps=30)


def lines(rule: str, clip: Path, srt: Path | None, frames: int, own_frames: int = 0) -> list[str]:
    planned = plan_frames(clip, FrameSampling("videomme", frames))
    return SubtitleSelection(rule, own_frames).lines(srt, planned.info, planned.indices)


def slicer_reference(srt: Path, total: int, fps: float, count: int) -> list[str]:
    """video-slicer slice_and_extract.py's subtitle loop, as written there."""
    subs = pysubs2.load(str(srt), encoding="utf-8")
    subtitles = []
    for frame_id in official_get_seq_frames(total, count):
        sub_text = ""
        cur_time = pysubs2.make_time(fps=fps, frames=frame_id)
        for sub in subs:
            if sub.start < cur_time and sub.end > cur_time:
                sub_text = sub.text.replace("\\N", " ")
                break
        if sub_text.strip():
            subtitles.append(sub_text)
    return subtitles


def lmms_eval_reference(srt: Path, total: int, fps: float, frame_num: int) -> list[str]:
    """lmms-eval videomme utils.py (load_subtitles, extract_subtitles, doc_to_text_subtitle)."""

    def parse_subtitle_time(time_str: str) -> float:
        h, m, s_ms = time_str.split(":")
        s, ms = s_ms.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    subtitles = {}
    for section in srt.read_text(encoding="utf-8").split("\n\n"):
        if section.strip():
            section_lines = section.split("\n")
            if len(section_lines) >= 3:
                time_range = section_lines[1].split(" --> ")
                start, end = parse_subtitle_time(time_range[0]), parse_subtitle_time(time_range[1])
                subtitles[(start, end)] = " ".join(line for line in section_lines[2:])
    by_frame = [(int(a * fps), int(b * fps), text) for (a, b), text in subtitles.items()]
    found = []
    for frame_idx in np.linspace(0, total - 1, frame_num, dtype=int).tolist():
        for idx, title in enumerate(by_frame):
            if frame_idx < title[1] and frame_idx >= title[0]:
                found.append(idx)
    text_list = []
    for idx in list(set(found)):
        raw = re.findall(r'<font color="white" size=".72c">(.*?)</font>', by_frame[idx][2])
        if raw:
            text_list.append(raw[0])
    return text_list


def test_videomme_rule_strict_bounds_first_cue_repeats_kept(clip: Path, tmp_path: Path) -> None:
    # 8 frames of 301 at 30 fps: 19, 56, 93, 131, 169, 206, 243, 281 -> 633, 1867, 3100, 4367,
    # 5633, 6867, 8100, 9367 ms (pysubs2.make_time rounds)
    srt = make_srt(
        tmp_path / "a.srt",
        [
            (0, 633, "ends exactly at frame 19: not shown"),
            (500, 1000, "<i>first</i> cue"),
            (600, 700, "overlaps, but the first matching cue wins"),
            (1867, 2500, "starts exactly at frame 56: not shown"),
            (3000, 4500, "two\nlines"),
            (6800, 6900, FONT.format("font text")),
            (8000, 9000, "untagged"),
        ],
    )
    expected = ["{\\i1}first{\\i0} cue", "two lines", "two lines", "font text", "untagged"]
    assert lines("videomme", clip, srt, 8) == expected
    assert slicer_reference(srt, 301, 30.0, 8) == expected
    assert lines("videomme", clip, None, 8) == []


def test_lmms_eval_rule_own_frames_half_open_tags_dedup(clip: Path, tmp_path: Path) -> None:
    # frame_num 8: linspace(0, 300, 8) -> 0, 42, 85, 128, 171, 214, 257, 300
    srt = make_srt(
        tmp_path / "b.srt",
        [
            (1400, 1600, FONT.format("A at frame 42")),  # frames [42, 48)
            (2000, 2866, FONT.format("B ends before 85")),  # [60, 85): 85 excluded
            (4266, 4400, "C untagged: dropped"),  # [127, 132)
            (5700, 5800, FONT.format("D first text")),
            (5700, 5800, FONT.format("D second text")),  # same range: the later text
            (7000, 10000, FONT.format("E spans three frames") + " " + FONT.format("only the first")),
        ],
    )
    expected = ["A at frame 42", "D second text", "E spans three frames"]
    # the model's own frame count (32) does not matter: lmms-eval uses its frame_num
    assert lines("lmms_eval", clip, srt, 32, own_frames=8) == expected
    assert lmms_eval_reference(srt, 301, 30.0, 8) == expected
    assert lines("lmms_eval", clip, None, 32, own_frames=8) == ["No subtitles available"]


@pytest.mark.parametrize("seed", range(6))
def test_both_rules_agree_with_the_official_code_on_random_cues(
    clip: Path, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    cues = []
    for number in range(rng.randint(1, 25)):
        start = rng.randint(0, 9800)
        end = start + rng.choice([1, 33, 34, 500, 1500, 4000])
        text = FONT.format(f"cue {number}") if rng.random() < 0.7 else f"plain {number}"
        cues.append((start, end, text))
    srt = make_srt(tmp_path / f"r{seed}.srt", cues)
    for frames in (1, 8, 32, 64):
        assert lines("videomme", clip, srt, frames) == slicer_reference(srt, 301, 30.0, frames)
        assert lines("lmms_eval", clip, srt, frames, own_frames=frames) == lmms_eval_reference(
            srt, 301, 30.0, frames
        )


def test_an_unreadable_subtitle_file_is_named(clip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.srt"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="bad.srt"):
        lines("videomme", clip, bad, 4)
