"""``mmlens plan`` of a video task lists the frames each video request would show (read from the
container's header, nothing decoded), and says why where the video is not in the local copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmlens.cli import main
from tests.fixtures.videomme_data import build_videomme


def official_seq_frames(total: int, segments: int) -> list[int]:
    """Video-MME's video slicer (get_seq_frames): the middle frame of each of N equal segments."""
    size = float(total - 1) / segments
    return [(int(np.round(size * i)) + int(np.round(size * (i + 1)))) // 2 for i in range(segments)]


def test_plan_lists_the_sampled_frames_of_each_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_videomme(tmp_path / "Video-MME")
    assert main(["plan", "videomme", "--data", str(data), "--limit", "2", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    frames = [f for sample in planned["samples"] for r in sample["requests"] for f in r["frames"]]
    assert len(frames) == 2
    for plan in frames:
        assert plan["sampling"]["rule"] == "videomme" and plan["sampling"]["frames"] == 32
        assert plan["sampling"]["decoder"].startswith("pyav ")
        assert plan["indices"] == official_seq_frames(plan["frame_count"], 32)
        assert plan["times"] == [round(i / plan["fps"], 3) for i in plan["indices"]]

    assert main(["plan", "videomme", "--data", str(data), "--limit", "1"]) == 0
    text = capsys.readouterr().out
    first = frames[0]
    assert f"32 of {first['frame_count']} ({first['fps']:g} fps) by videomme, pyav" in text
    assert "indices " + ", ".join(str(i) for i in first["indices"]) in text


def test_plan_of_a_questions_only_copy_says_the_video_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_videomme(tmp_path / "Video-MME", videos=False)
    assert main(["plan", "videomme", "--data", str(data), "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "frames of [video absent:" in text and "is not in the local copy" in text
