"""circular, shuffle_options and blind on any task: rewritten options, CircularEval's all-passes
rule, seeded order, no media; run identity, caching and provenance; the CLI and task YAML forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlens import api
from mmlens.cli.app import main
from mmlens.core.errors import ConfigError, DataError
from mmlens.core.messages import Message, TextPart
from mmlens.core.parts import SampleRecord
from mmlens.core.sample import Sample
from mmlens.metrics.accuracy import Accuracy
from mmlens.transforms.choices import find_options
from mmlens.transforms.circular import Circular, CircularMetric
from mmlens.transforms.options import ShuffleOptions
from tests.fixtures.benchmark_data import build_mmstar
from tests.fixtures.benchmark_helpers import first_questions
from tests.fixtures.tiny_models import TinyModelFactory, tiny_model_factory  # noqa: F401 - fixture


def text_sample(sample_id: str, text: str, target: str, choices: list[str] | None = None) -> Sample:
    return Sample(id=sample_id, messages=[Message("user", (TextPart(text),))], target=target, choices=choices)


SHAPES_STYLE = (
    "What color is the circle?\nA. red\nB. green\nC. blue\nD. yellow\nAnswer with the option's letter."
)
MMSTAR_STYLE = "Question 3: which shape?\nOptions: A: square, B: circle, C: star, D: line"


def test_circular_rotates_inline_options_and_moves_the_target() -> None:
    passes = Circular().transform_sample(text_sample("q7", SHAPES_STYLE, "C"))
    assert [p.id for p in passes] == ["q7", "q7#circular1", "q7#circular2", "q7#circular3"]
    # pass k shows original option (p + k) mod n at position p: blue (C) moves to B, then A, then D
    assert [p.target for p in passes] == ["C", "B", "A", "D"]
    assert passes[1].question == (
        "What color is the circle?\nA. green\nB. blue\nC. yellow\nD. red\nAnswer with the option's letter."
    )
    assert {p.group for p in passes} == {"q7"}
    assert [p.metadata["circular"]["pass"] for p in passes] == [0, 1, 2, 3]


def test_circular_rewrites_mmstars_options_line() -> None:
    passes = Circular().transform_sample(text_sample("3", MMSTAR_STYLE, "B"))
    # pass 3: position p shows original option (p + 3) mod 4; circle (B, position 1) moves to C
    assert passes[3].question == "Question 3: which shape?\nOptions: A: line, B: square, C: circle, D: star"
    assert passes[3].target == "C"


def test_structured_choices_are_rotated_and_questions_without_options_pass_unchanged() -> None:
    structured = text_sample("s", "Which one?", "A", ["x", "y", "z"])
    assert [(p.choices, p.target) for p in Circular().transform_sample(structured)] == [
        (["x", "y", "z"], "A"),
        (["y", "z", "x"], "C"),
        (["z", "x", "y"], "B"),
    ]
    yes_no = text_sample("yn", "Is there a circle?", "yes")
    assert find_options(yes_no) is None
    assert [p.id for p in Circular().transform_sample(yes_no)] == ["yn"]


def record(
    sample_id: str, of: str, k: int, correct: bool, category: tuple[str, ...] = ("c",)
) -> SampleRecord:
    return SampleRecord.model_validate(
        {
            "id": sample_id,
            "category": category,
            "group": of,
            "extraction": "rule",
            "scores": {"acc": float(correct)},
            "correct": correct,
            "details": {"circular": {"of": of, "pass": k, "passes": 4}},
        }
    )


def test_a_question_passes_only_if_every_rotation_is_right() -> None:
    records = [record(f"a#{k}", "a", k, True) for k in range(4)]
    records += [record(f"b#{k}", "b", k, k != 2, ("d",)) for k in range(4)]  # one wrong rotation
    records += [record(f"c#{k}", "c", k, k != 0, ("d",)) for k in range(4)]  # pass 0 wrong
    aggregate = CircularMetric(inner=Accuracy()).aggregate(records)
    assert aggregate.metrics["circular_acc"].value == pytest.approx(1 / 3)
    assert aggregate.metrics["vanilla_acc"].value == pytest.approx(2 / 3)  # pass 0: a and b right
    assert aggregate.breakdown["d"]["circular_acc"].value == 0.0
    assert aggregate.breakdown["c"]["vanilla_acc"].value == 1.0


def test_shuffle_is_seeded_per_sample_and_keeps_the_right_option() -> None:
    sample = text_sample("q1", SHAPES_STYLE, "C")
    first, again = (
        ShuffleOptions(seed=1).transform_sample(sample)[0],
        ShuffleOptions(seed=1).transform_sample(sample)[0],
    )
    assert first.question == again.question and first.target == again.target
    options = find_options(first)
    assert options is not None and options.choices[options.answer] == "blue"
    orders = {
        tuple(find_options(ShuffleOptions(seed=s).transform_sample(sample)[0]).choices) for s in range(8)
    }  # type: ignore[union-attr]
    assert len(orders) > 1


def test_option_transforms_refuse_a_task_without_multiple_choice(tmp_path: Path) -> None:
    data = first_questions(tmp_path / "pope", 2)
    with pytest.raises(DataError, match="transform circular needs multiple-choice questions"):
        api.evaluate(
            "pope",
            "constant",
            data=data,
            transforms=["circular"],
            store=tmp_path / "s.sqlite",
            output_dir=None,
        )


def test_bad_transform_names_and_arguments_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="unknown transform 'circulr'.*Did you mean 'circular'"):
        api.load_task("shapes_small", transforms=["circulr"])
    with pytest.raises(ConfigError, match="--transform circular:3: circular takes no arguments"):
        api.load_task("shapes_small", transforms=["circular:3"])
    with pytest.raises(ConfigError, match="shuffle_options:x"):
        api.load_task("shapes_small", transforms=["shuffle_options:x"])


def test_transforms_are_part_of_the_task_version_and_provenance(tmp_path: Path) -> None:
    plain, circular = api.load_task("shapes_small"), api.load_task("shapes_small", transforms=["circular"])
    seeded = api.load_task("shapes_small", transforms=["shuffle_options:2"])
    assert len({plain.version_hash, circular.version_hash, seeded.version_hash}) == 3
    assert seeded.transform_labels == ["shuffle_options:seed=2"]
    options = {"store": tmp_path / "s.sqlite", "output_dir": None, "limit": 20}
    plain_run = api.evaluate("shapes_small", "reference", **options)
    circular_run = api.evaluate("shapes_small", "reference", transforms=["circular"], **options)
    assert plain_run.run_id != circular_run.run_id
    assert circular_run.results["provenance"]["task"]["transforms"] == ["circular"]
    # pass 0 asks exactly the plain run's questions: those come from the cache
    stats = circular_run.stats
    assert stats is not None and stats.cached == 20 and stats.computed == stats.unique_requests - 20 > 0
    assert circular_run.results["metrics"]["circular_acc"]["n"] == 20
    rerun = api.evaluate("shapes_small", "reference", transforms=["circular"], **options)
    assert rerun.stats is not None and rerun.stats.computed == 0


def test_mmbench_keeps_its_published_rotations() -> None:
    plain, transformed = (
        api.load_task("mmbench_dev_en"),
        api.load_task("mmbench_dev_en", transforms=["circular"]),
    )
    assert type(transformed.metric) is type(plain.metric)


def test_cli_and_task_yaml_forms(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    code = main(["run", "shapes_small", "--limit", "10", "--transform", "circular", "--store", store,
                 "--output-dir", str(tmp_path / "runs"), "--no-progress", "--json"])  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert code == 0 and results["provenance"]["task"]["transforms"] == ["circular"]
    assert set(results["metrics"]) == {"circular_acc", "vanilla_acc"}
    (tmp_path / "mine.yaml").write_text(
        "name: shapes_circular\nscenario: {type: shapes, size: 10}\nmetric: {type: accuracy}\n"
        "transforms: [circular, {type: shuffle_options, seed: 4}]\n"
    )
    code = main(["run", "shapes_circular", "--include", str(tmp_path / "mine.yaml"), "--store", store,
                 "--output-dir", str(tmp_path / "runs"), "--no-progress", "--json"])  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert code == 0 and results["provenance"]["task"]["transforms"] == ["circular", "shuffle_options:seed=4"]
    code = main(["run", "shapes_small", "--transform", "nope", "--store", store])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "unknown transform 'nope'" in err


@pytest.mark.parametrize("transforms", [["circular"], ["shuffle_options:1"], ["blind"]])
def test_option_transforms_with_a_tiny_vlm_on_two_benchmarks(
    transforms: list[str],
    tmp_path: Path,
    tiny_model_factory: TinyModelFactory,  # noqa: F811
) -> None:
    """A multiple-choice benchmark (MMStar, options inline) and shapes (yes/no and four-option
    questions) through the real hf backend; for POPE (yes/no) the blind transform too."""
    pytest.importorskip("transformers")
    model = f"hf:{tiny_model_factory('llava')}"
    options = {"model_args": "dtype=float32", "store": tmp_path / "s.sqlite", "output_dir": None}
    runs = {
        "mmstar": api.evaluate(
            "mmstar", model, data=build_mmstar(tmp_path / "mmstar"), limit=4, transforms=transforms, **options
        ),  # fmt: skip
        "shapes": api.evaluate("shapes_small", model, limit=10, transforms=transforms, **options),
    }
    if transforms == ["blind"]:
        runs["pope"] = api.evaluate("pope", model, data=first_questions(tmp_path / "pope", 2),
                                    transforms=transforms, **options)  # fmt: skip
    for name, run in runs.items():
        assert run.results["counts"]["errors"] == 0, name
        prompts = [r.prompt for r in run.records]
        has_images = [any(p["type"] == "image" for m in prompt for p in m["content"]) for prompt in prompts]
        assert not any(has_images) if transforms == ["blind"] else all(has_images), name
        if transforms == ["circular"]:
            assert run.results["metrics"]["circular_acc"]["n"] == (4 if name == "mmstar" else 10)
            assert len(run.records) > run.results["metrics"]["circular_acc"]["n"]
