"""Frames are released after their request is sent: after a Video-MME run through the openai
backend against a real HTTP server, no decoded frame (PIL image, PyAV frame) and no open PyAV
container is left alive, and the questions of one video decoded it once. (benchmarks/bench_video.py
measures the resident memory of 10 / 100 / 300 videos.)"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from mmlens import api
from mmlens.core.task import load_task_file
from tests.fixtures.fault_server import FaultServer
from tests.fixtures.videomme_data import build_videomme

TASK_FILE = Path(api.__file__).parent / "tasks" / "videomme" / "videomme.yaml"


def alive(kind: type) -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if isinstance(item, kind))


def test_no_frame_outlives_its_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import av
    from PIL import Image

    import mmlens.media.sampling as sampling

    decoded: list[str] = []
    real = sampling.decode_frames

    def counting(path: Path, frame_sampling: sampling.FrameSampling) -> list[Image.Image]:
        decoded.append(path.name)
        return real(path, frame_sampling)

    monkeypatch.setattr(sampling, "decode_frames", counting)
    data = build_videomme(tmp_path / "vm")
    task = load_task_file(TASK_FILE, overrides={"instruction": {"frames": 8}}, name="videomme")
    images_before = alive(Image.Image)
    with FaultServer() as server:
        result = api.evaluate(
            task, "openai:m", model_args=f"base_url={server.base_url}", data=str(data), output_dir=None
        )
        assert server.record.total == 6
    assert result.results["counts"]["errors"] == 0
    assert sorted(decoded) == sorted(set(decoded)) and len(decoded) == 2  # 2 videos, 3 questions each
    assert alive(Image.Image) <= images_before
    assert alive(av.VideoFrame) == 0
    assert alive(av.container.InputContainer) == 0
