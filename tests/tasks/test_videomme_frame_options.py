"""--video-frames / --video-sampling / --video-fps / --video-decoder: the frame settings of a video
task set from the command line (mmlens run, mmlens plan, a run config's generation:), exactly as the
task file sets them: another value is other requests (new keys), the task's own value the same
requests (answers reused), a bad value one error naming the option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli import main
from mmlens.core.errors import ConfigError
from mmlens.core.generation import GenerationOverrides
from mmlens.core.task import load_task_file
from mmlens.media.instruction import with_frame_options
from tests.fixtures.videomme_data import build_videomme

pytestmark = pytest.mark.timeout(120)
TASK_FILE = Path(api.__file__).parent / "tasks" / "videomme" / "videomme.yaml"
COUNTS = re.compile(r"requests: (\d+) unique, (\d+) from the cache, (\d+) computed, (\d+) errors")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_videomme(tmp_path_factory.mktemp("frame_options") / "vm")


def run(capsys: pytest.CaptureFixture[str], data: Path, store: Path, *options: str) -> tuple[int, int]:
    """(from the cache, computed) of one ``mmlens run videomme`` with ``options``."""
    argv = ["run", "videomme", "--data", str(data), "--model", "constant", "--model-args", "text=A"]
    argv += ["--store", str(store), "--output-dir", str(store.parent / "out"), *options]
    assert main(argv) == 0
    found = COUNTS.search(capsys.readouterr().out)
    assert found is not None
    unique, cached, computed, errors = (int(value) for value in found.groups())
    assert (unique, errors) == (6, 0)
    return cached, computed


def test_run_options_change_the_request_keys_as_the_task_file_does(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.sqlite"
    assert run(capsys, data, store) == (0, 6)
    # the task's own values (32 frames, rule videomme, PyAV): the same requests, answered already
    assert run(capsys, data, store, "--video-frames", "32") == (6, 0)
    assert run(capsys, data, store, "--video-sampling", "videomme", "--video-decoder", "pyav") == (6, 0)
    # another value: other requests
    assert run(capsys, data, store, "--video-frames", "8") == (0, 6)
    assert run(capsys, data, store, "--video-frames", "8") == (6, 0)
    assert run(capsys, data, store, "--video-frames", "8", "--video-sampling", "linspace") == (0, 6)
    assert run(capsys, data, store, "--video-sampling", "fps", "--video-fps", "2") == (0, 6)
    assert run(capsys, data, store, "--video-sampling", "fps", "--video-fps", "2", "--video-frames", "0") == (
        0,
        6,
    )


def test_the_option_and_the_task_setting_give_the_same_keys(data: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    in_file = load_task_file(TASK_FILE, overrides={"instruction": {"frames": 8, "sampling": "linspace"}})
    first = api.evaluate(
        in_file, "constant", model_args="text=A", data=str(data), output_dir=None, store=store
    )
    options = GenerationOverrides(video_frames=8, video_sampling="linspace")
    again = api.evaluate(
        "videomme", "constant", model_args="text=A", data=str(data), output_dir=None, store=store,
        generation=options,
    )  # fmt: skip
    assert (again.stats.cached, again.stats.computed) == (6, 0)
    assert [r.prompt for r in first.records] == [r.prompt for r in again.records]
    sampling = again.records[0].prompt[0]["content"][0]["sampling"]
    assert (sampling["frames"], sampling["rule"]) == (8, "linspace")
    assert again.results["provenance"]["generation_overrides"] == {
        "video_frames": 8,
        "video_sampling": "linspace",
    }


def test_plan_lists_the_frames_the_options_pick(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 150 frames at 25 fps; linspace(0, 149, 4, dtype=int) = 0, 49, 99, 149
    argv = ["plan", "videomme", "--data", str(data), "--limit", "1"]
    assert main([*argv, "--video-frames", "4", "--video-sampling", "linspace"]) == 0
    shown = capsys.readouterr().out
    assert "4 of 150 (25 fps) by linspace" in shown
    assert "indices 0, 49, 99, 149" in shown
    assert main(argv) == 0
    assert "32 of 150 (25 fps) by videomme" in capsys.readouterr().out


def test_a_run_config_sets_them_under_generation(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "tasks: [videomme]\nmodel: constant\nmodel_args: text=A\ngeneration: {video_frames: 8}\n"
    )
    store = tmp_path / "s.sqlite"
    assert run(capsys, data, store, "--video-frames", "8") == (0, 6)
    argv = ["run", "--config", str(config), "--data", str(data), "--store", str(store)]
    assert main([*argv, "--output-dir", str(tmp_path / "out")]) == 0
    found = COUNTS.search(capsys.readouterr().out)
    assert found is not None and found.group(2, 3) == ("6", "0")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--video-frames", "0"],
            "--video-frames 0: task videomme: frame sampling rule 'videomme' needs frames >= 1",
        ),
        (
            ["--video-sampling", "middle"],
            "--video-sampling middle: task videomme: unknown frame sampling rule",
        ),
        (["--video-decoder", "opencv"], "--video-decoder opencv: task videomme: unknown video decoder"),
        (
            ["--video-sampling", "fps"],
            "--video-sampling fps: task videomme: frame sampling rule 'fps' needs fps > 0",
        ),
        (["--video-frames", "-1"], "--video-frames: Input should be greater than or equal to 0"),
    ],
)
def test_a_bad_value_is_one_error_naming_the_option(
    data: Path, options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "videomme", "--data", str(data), "--limit", "1", *options]) != 0
    assert message in capsys.readouterr().err


def test_tasks_without_video_are_left_as_they_are() -> None:
    from mmlens.instructions.template import TemplateInstruction

    plain = TemplateInstruction()
    assert with_frame_options("mmbench", plain, {"video_frames": 8}) is plain
    with pytest.raises(ConfigError, match="--video-frames 0"):
        task = load_task_file(TASK_FILE)
        with_frame_options("videomme", task.instruction, {"video_frames": 0})


@pytest.mark.parametrize("task", ["judge_anything_pair", "mm_rlhf_rewardbench", "mme_emotion"])
def test_a_video_task_whose_frames_are_not_the_instructions_refuses_them(task: str) -> None:
    from mmlens.core.generation import GenerationOverrides
    from mmlens.core.task import TaskCatalog

    refused = f"--video-frames 8: task {task} takes its video frames from its scenario"
    with pytest.raises(ConfigError, match=refused):
        TaskCatalog().load(task, generation=GenerationOverrides(video_frames=8))
    assert TaskCatalog().load("mmbench_dev_en", generation=GenerationOverrides(video_frames=8)) is not None
