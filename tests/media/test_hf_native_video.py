"""The hf backend's native video input: a processor with a video processor (Qwen2-VL) gets a
VideoPart's sampled frames as one video (``videos=``, ``<|video_pad|>`` tokens, ``video_grid_thw``),
and answers exactly as the saved processor and model do when called directly.

transformers 5.x's video processors (``BaseVideoProcessor``, ``Qwen2VLVideoProcessor``) import
``torchvision.transforms.v2.functional`` and are marked ``@requires(backends=("vision",
"torchvision"))``: without torchvision no video processor can be built, so ``native_video`` is
off and videos go in as frames (tests/media/test_video_pipeline.py). PyPI has torchvision 0.28.0
only as a CUDA build (+cu130), whose C++ ops cannot load beside the CPU torch 2.13; its transforms
are pure torch and work once the two unguarded fake registrations of those ops are guarded
(scripts/setup_vllm.sh does that for .venv-vllm). So: where torchvision imports here, the check
runs in process; else, where .venv-vllm has that guarded torchvision, in a child process whose
path adds it (nothing else from .venv-vllm); else the test checks the ImportError that says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("native_video_check.py")
VLLM_SITE = (
    REPO / ".venv-vllm" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
)

pytestmark = pytest.mark.timeout(300)


def torchvision_imports() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - a CUDA torchvision beside a CPU torch fails in many ways
        return False
    return True


def overlay_of_vllm_torchvision(folder: Path) -> Path | None:
    """A folder holding only .venv-vllm's torchvision (links), for a child's PYTHONPATH."""
    parts = sorted(VLLM_SITE.glob("torchvision*")) if VLLM_SITE.is_dir() else []
    if not any(part.name == "torchvision" for part in parts):
        return None
    folder.mkdir()
    for part in parts:
        (folder / part.name).symlink_to(part)
    return folder


def run_check(tmp_path: Path) -> dict[str, Any] | None:
    if torchvision_imports():
        sys.path.insert(0, str(REPO))
        from tests.media.native_video_check import check

        return check(tmp_path)
    overlay = overlay_of_vllm_torchvision(tmp_path / "torchvision_only")
    if overlay is None:
        return None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(overlay), str(REPO)])}
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, str(CHECK), str(work)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_video_processor_gets_the_sampled_frames_as_one_video(tmp_path: Path) -> None:
    result = run_check(tmp_path)
    if result is None:  # no torchvision anywhere: the reason, as transformers gives it
        from transformers import Qwen2VLVideoProcessor

        with pytest.raises(ImportError, match="requires the Torchvision library"):
            Qwen2VLVideoProcessor()
        return
    # 60 frames, 4 by Video-MME's rule: segment middles of 59 / 4 = 14.75 (round half to even)
    assert result["frames"] == [7, 22, 37, 51]
    ours, theirs = result["mmlens"], result["direct"]
    assert ours["errors"] == [None, None]
    assert ours["native_video"] is True
    assert theirs["processor"] == "Qwen2VLVideoProcessor"
    # 4 frames of 112 x 112 at most: 2 temporal patches of 2 x 12 merged cells -> 12 video tokens
    assert theirs["video_grid_thw"] == [[2, 2, 12]]
    assert (theirs["video_tokens"], theirs["image_tokens"]) == (12, 0)
    assert ours["text"] == theirs["text"]
    assert ours["logprob"] == pytest.approx(theirs["logprob"], abs=1e-5)
