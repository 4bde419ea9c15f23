"""Core pieces: request hashing, task files (variants, profiles, hooks), statistics, extractors."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from PIL import Image

from mmlens.core.errors import ConfigError, UnknownNameError
from mmlens.core.media import BytesImage, FileImage, GeneratedImage
from mmlens.core.messages import ImagePart, Message
from mmlens.core.registry import Registry
from mmlens.core.requests import GenerationSettings, Request
from mmlens.core.sample import Sample
from mmlens.core.task import TaskCatalog
from mmlens.metrics.extractors import extract_choice_letter, extract_yes_no
from mmlens.metrics.stats import bootstrap_intervals, mean_interval, wilson_interval


def png_bytes(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_request_key_depends_on_content_not_on_where_the_image_came_from(tmp_path: Path) -> None:
    data = png_bytes((10, 20, 30))
    (tmp_path / "a.png").write_bytes(data)
    from_file = Request("generate", (Message.user(ImagePart(FileImage(tmp_path / "a.png")), "q"),))
    from_bytes = Request("generate", (Message.user(ImagePart(BytesImage(data)), "q"),))
    assert from_file.key("m") == from_bytes.key("m")
    other_image = Request("generate", (Message.user(ImagePart(BytesImage(png_bytes((0, 0, 0)))), "q"),))
    other_text = Request("generate", (Message.user(ImagePart(BytesImage(data)), "q?"),))
    other_settings = Request("generate", from_bytes.messages, GenerationSettings(max_new_tokens=5))
    keys = {r.key("m") for r in (from_bytes, other_image, other_text, other_settings)}
    assert len(keys) == 4
    assert from_bytes.key("m") != from_bytes.key("other model")


def test_generated_images_are_hashed_without_drawing() -> None:
    def draw() -> Image.Image:
        raise AssertionError("drawn while hashing")

    image = GeneratedImage("demo-v1:0:7", draw)
    request = Request("generate", (Message.user(ImagePart(image), "q"),))
    assert request.canonical()["messages"][0]["content"][0] == {"type": "image", "image": "gen:demo-v1:0:7"}
    assert len(request.key("m")) == 64


def test_unreadable_image_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 not really")
    with pytest.raises(Exception, match="unreadable image .*broken.jpg"):
        FileImage(path).pil()


def test_registry_suggests_close_names() -> None:
    registry: Registry[int] = Registry("widget")
    registry.add("circular", 1)
    registry.add("vanilla", 2)
    with pytest.raises(UnknownNameError, match="unknown widget 'circulr'. Did you mean 'circular'"):
        registry.get("circulr")
    with pytest.raises(ConfigError, match="already registered"):
        registry.add("vanilla", 3)


TASK_WITH_VARIANTS = """
name: toy
description: a toy task
scenario: {type: jsonl, path: data.jsonl}
inferencer: {type: generate, max_new_tokens: 8}
metric: {type: accuracy, extractor: yes_no}
variants:
  toy_long: {inferencer: {max_new_tokens: 99}, description: longer answers}
profiles:
  letters: {metric: {extractor: choice_letter}}
"""


def test_variants_profiles_and_version_hash(tmp_path: Path) -> None:
    (tmp_path / "toy.yaml").write_text(TASK_WITH_VARIANTS)
    catalog = TaskCatalog([tmp_path])
    assert {"toy", "toy_long"} <= set(catalog.names())
    assert catalog.entries["toy_long"].description == "longer answers"
    base = catalog.load("toy")
    variant = catalog.load("toy_long")
    profiled = catalog.load("toy", profile="letters")
    assert variant.name == "toy_long" and variant.inferencer.max_new_tokens == 99  # type: ignore[attr-defined]
    assert base.inferencer.max_new_tokens == 8  # type: ignore[attr-defined]
    assert profiled.metric.extractor == "choice_letter" and profiled.profile == "letters"  # type: ignore[attr-defined]
    assert len({base.version_hash, variant.version_hash, profiled.version_hash}) == 3
    assert catalog.load("toy").version_hash == base.version_hash
    with pytest.raises(ConfigError, match="--profile nope: task toy has no such profile .known: letters"):
        catalog.load("toy", profile="nope")


def test_hooks_register_parts(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(
        "from mmlens.core.parts import instructions\n"
        "from mmlens.instructions.template import TemplateInstruction\n"
        "@instructions.register('shouting')\n"
        "class Shouting(TemplateInstruction):\n"
        "    def build(self, sample):\n"
        "        return [m for m in sample.messages]\n"
    )
    (tmp_path / "hooked.yaml").write_text(
        "name: hooked\nhooks: hooks.py\nscenario: {type: jsonl}\ninstruction: {type: shouting}\n"
        "metric: {type: accuracy}\n"
    )
    task = TaskCatalog([tmp_path]).load("hooked")
    assert type(task.instruction).__name__ == "Shouting"


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson_interval(8, 10)
    # Worked out by hand: p=0.8, z=1.96, n=10 -> centre 0.7166, half-width 0.2260.
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0


def test_clustered_interval_is_wider_when_pairs_agree() -> None:
    values = [1.0, 1.0, 0.0, 0.0] * 25
    groups = [str(i // 2) for i in range(100)]  # each pair agrees: only 50 independent units
    independent = mean_interval(values)
    clustered = mean_interval(values, groups)
    assert clustered[1] - clustered[0] > independent[1] - independent[0]
    assert math.isclose(sum(clustered) / 2, 0.5, abs_tol=1e-9)


def test_bootstrap_is_deterministic_and_covers_the_estimate() -> None:
    items = [i % 3 == 0 for i in range(90)]

    def statistic(sample: list[bool]) -> dict[str, float]:
        return {"share": sum(sample) / len(sample)}

    first = bootstrap_intervals(items, statistic, resamples=200)
    assert first == bootstrap_intervals(items, statistic, resamples=200)
    assert first["share"][0] < 1 / 3 < first["share"][1]


def mc_sample() -> Sample:
    return Sample(
        id="s", messages=[Message.user("q")], target="B", choices=["red", "green", "blue", "yellow"]
    )


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        ("B", "B", "exact"),
        ("(C) blue", "C", "rule"),
        ("The answer is D.", "D", "rule"),
        ("green", "B", "rule"),
        ("E", None, "failed"),
        ("I am not sure", None, "failed"),
    ],
)
def test_choice_letter_extraction(response: str, answer: str | None, method: str) -> None:
    extraction = extract_choice_letter(mc_sample(), response)
    assert (extraction.answer, extraction.method) == (answer, method)


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        ("Yes", "yes", "exact"),
        ("no.", "no", "exact"),
        ("I think yes, it is", "yes", "rule"),
        ("maybe", None, "failed"),
    ],
)
def test_yes_no_extraction(response: str, answer: str | None, method: str) -> None:
    extraction = extract_yes_no(Sample(id="s", messages=[]), response)
    assert (extraction.answer, extraction.method) == (answer, method)


def test_bootstrap_counts_a_group_drawn_twice_as_two_groups() -> None:
    from mmlens.core.parts import SampleRecord
    from mmlens.metrics.aggregation import bootstrapped

    records = [
        SampleRecord(
            id=f"q{i}", group=f"image{i // 2}", target="yes", response="yes", answer="yes",
            extraction="exact", scores={"acc": 1.0},
        )
        for i in range(20)
    ]

    def groups_per_record(sample: list[SampleRecord]) -> dict[str, float]:
        return {"ratio": len({r.group for r in sample}) / len(sample)}

    value = bootstrapped(records, groups_per_record, resamples=50)["ratio"]
    # Every resample draws 10 pairs: always 10 distinct groups for 20 records, duplicates or not.
    assert (value.value, value.ci_low, value.ci_high) == (0.5, 0.5, 0.5)


def test_model_args_keep_json_values_whole() -> None:
    from mmlens.models.base import parse_model_args

    parsed = parse_model_args('dtype=bfloat16,extra_body={"top_k": 1, "stop": ["a,b"]},batch_size=4')
    assert parsed == {"dtype": "bfloat16", "extra_body": '{"top_k": 1, "stop": ["a,b"]}', "batch_size": "4"}


def test_the_readme_task_example_runs_with_its_variant_and_profile(tmp_path: Path) -> None:
    """The "Your own tasks" example of the README, verbatim."""
    import json
    import re

    from mmlens import api

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Your own tasks") :]
    task_yaml = re.search(r"```yaml\n(# my_tasks/colours.yaml\n.*?)```", section, re.S)
    row = re.search(r"```json\n(.*?)\n```", section, re.S)
    assert task_yaml and row
    folder = tmp_path / "my_tasks"
    (folder / "img").mkdir(parents=True)
    Image.new("RGB", (8, 8), (200, 0, 0)).save(folder / "img" / "ball.png")
    (folder / "colours.yaml").write_text(task_yaml.group(1))
    (folder / "colours.jsonl").write_text(json.dumps(json.loads(row.group(1))) + "\n")
    for task, profile in (("colours", None), ("colours_ranked", None), ("colours", "lenient")):
        result = api.evaluate(
            task,
            "constant",
            model_args="text=A",
            include=[folder],
            profile=profile,
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )
        assert result.results["counts"]["scored"] == 1, task
    ranked = TaskCatalog([folder]).load("colours_ranked")
    assert type(ranked.inferencer).__name__ == "RankChoices"


def test_no_interval_is_claimed_from_a_single_group() -> None:
    from mmlens.core.parts import MetricValue

    low, high = mean_interval([1.0, 0.0, 1.0], ["img", "img", "img"])
    assert math.isnan(low) and math.isnan(high)
    assert MetricValue(2 / 3, low, high, 3).to_dict() == {"value": 2 / 3, "ci95": None, "n": 3}


def test_the_readme_backend_plugin_example_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from mmlens import api
    from mmlens.core.plugins import load_plugins

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = re.search(r"```python\n(# my_backend.py.*?)```", readme, re.S)
    assert code
    (tmp_path / "my_backend.py").write_text(code.group(1))
    monkeypatch.setenv("MMLENS_PLUGINS", str(tmp_path / "my_backend.py"))
    load_plugins()
    result = api.evaluate(
        "shapes_small", "echo", model_args="prefix=A", limit=5, store=tmp_path / "s.sqlite", output_dir=None
    )
    assert [r.response for r in result.records][0].startswith("A")
    assert result.results["counts"]["scored"] == 5
