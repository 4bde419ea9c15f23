"""The built-in ``reference`` model: numpy inference, accuracy on shapes, honest failures."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mmlens.core.media import BytesImage
from mmlens.core.messages import ImagePart, Message
from mmlens.core.parts import LoadContext, SampleRecord
from mmlens.core.requests import Request, Response
from mmlens.core.sample import Sample
from mmlens.core.task import BUILTIN_TASKS_DIR
from mmlens.inferencers.basic import Generate
from mmlens.inferencers.ranking import RankChoices
from mmlens.instructions.template import TemplateInstruction
from mmlens.metrics.accuracy import Accuracy
from mmlens.models.base import build_model, parse_model_spec
from mmlens.models.reference import BUILTIN_WEIGHTS, ReferenceModel, parse_question
from mmlens.tasks.shapes.scenario import FAMILIES, ShapesScenario, make_sample

TRAINING_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_reference_model.py"


@pytest.fixture(scope="module")
def model() -> ReferenceModel:
    built = build_model(parse_model_spec("reference"))
    assert isinstance(built, ReferenceModel)
    return built


def run(model: ReferenceModel, requests: list[Request]) -> list[Response]:
    responses: dict[int, Response] = {}

    def emit(index: int, response: Response) -> None:
        assert index not in responses, f"request {index} answered twice"
        responses[index] = response

    model.process(requests, emit)
    assert sorted(responses) == list(range(len(requests)))
    return [responses[i] for i in range(len(requests))]


def shapes_samples(count: int, seed: int = 0) -> list[Sample]:
    context = LoadContext("shapes", BUILTIN_TASKS_DIR / "shapes", limit=count)
    return [s for s in ShapesScenario(size=count, seed=seed).load(context) if isinstance(s, Sample)]


def test_scores_well_above_chance_on_every_family(model: ReferenceModel) -> None:
    samples = shapes_samples(300)
    instruction, inferencer, metric = TemplateInstruction(), Generate(max_new_tokens=8), Accuracy()
    requests = [inferencer.plan(s, instruction.build(s)) for s in samples]
    assert all(len(planned) == 1 for planned in requests)
    responses = run(model, [planned[0] for planned in requests])
    records = []
    for sample, planned, response in zip(samples, requests, responses, strict=True):
        prediction = inferencer.combine(sample, planned, [response])
        extraction = metric.extract(sample, prediction)
        assert extraction.method == "exact", (sample.id, response)
        records.append(
            SampleRecord(
                id=sample.id,
                category=sample.category,
                group=sample.group,
                target=sample.target,
                response=prediction.text,
                answer=extraction.answer,
                extraction=extraction.method,
                scores=metric.score(sample, extraction),
            )
        )
    aggregate = metric.aggregate(records)
    assert aggregate.metrics["acc"].value >= 0.8
    chance = {"existence": 0.5, "position": 0.5, "count": 0.25, "colour": 0.25, "text": 0.25}
    for family in FAMILIES:
        assert aggregate.breakdown[f"perception/{family}"]["acc"].value >= chance[family] + 0.3, family


def test_numpy_forward_equals_torch_forward() -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed: the numpy/torch comparison needs it")
    spec = importlib.util.spec_from_file_location("train_reference_model", TRAINING_SCRIPT)
    assert spec is not None and spec.loader is not None
    training: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(training)
    torch_net, network = training.load_torch_net(BUILTIN_WEIGHTS)
    images, word_ids, *_ = training.make_batch(seed=7, size=24, words=network.words)
    images[-1] = np.random.default_rng(0).integers(
        0, 256, images[-1].shape, dtype=np.uint8
    )  # off-distribution
    with torch.no_grad():
        expected = torch_net(torch.from_numpy(images), torch.from_numpy(word_ids)).numpy()
    actual = network.forward(images, word_ids)
    assert actual.shape == (24, len(network.answers))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-3)


def test_answers_do_not_depend_on_batch_size() -> None:
    requests = [Request("generate", tuple(s.messages)) for s in shapes_samples(30, seed=3)]
    small = build_model(parse_model_spec("reference", "batch_size=7"))
    large = build_model(parse_model_spec("reference"))
    assert isinstance(small, ReferenceModel) and isinstance(large, ReferenceModel)
    assert [r.text for r in run(small, requests)] == [r.text for r in run(large, requests)]
    assert small.fingerprint() == large.fingerprint()


def test_unusable_images_get_error_responses(model: ReferenceModel) -> None:
    image = make_sample(0, 3).images[0]
    question = "What color is the circle?"
    requests = [
        Request(
            "generate", (Message.user(ImagePart(BytesImage(b"\x89PNG broken", "broken.png")), question),)
        ),
        Request("generate", (Message.user(question),)),
        Request("generate", (Message.user(ImagePart(image), ImagePart(image), question),)),
        Request("generate", (Message.user(ImagePart(image), question),)),
    ]
    broken, no_image, two_images, fine = run(model, requests)
    assert broken.error is not None and "broken.png" in broken.error and broken.text is None
    assert no_image.error == "reference model needs exactly one image, got 0"
    assert two_images.error == "reference model needs exactly one image, got 2"
    assert fine.ok and fine.text in ("red", "green", "blue", "yellow")


@pytest.mark.parametrize(
    "question",
    [
        "Is there a dog in the image? Please answer yes or no.",  # a word it never saw
        "What color is the circle?\nA. purple\nB. red",  # an option it never saw
    ],
)
def test_questions_it_cannot_read_get_a_refusal_that_scores_as_failed(
    model: ReferenceModel, question: str
) -> None:
    sample = make_sample(0, 0)
    (response,) = run(model, [Request("generate", (Message.user(ImagePart(sample.images[0]), question),))])
    assert response.ok and response.text is not None and response.text.startswith("Cannot answer")
    choices = [text for _, text in parse_question(question).options] or None
    probe = Sample(
        "probe", [Message.user(question)], target="yes" if choices is None else "B", choices=choices
    )
    extraction = Accuracy().extract(probe, Generate().combine(probe, [], [response]))
    assert extraction.method == "failed" and extraction.answer is None


def test_likelihood_ranking_agrees_with_generation(model: ReferenceModel) -> None:
    samples = [s for s in shapes_samples(40, seed=5) if s.choices]
    ranker = RankChoices()
    for sample in samples:
        planned = ranker.plan(sample, list(sample.messages))
        responses = run(model, planned)
        assert all(r.logprob is not None and r.logprob <= 0 for r in responses)
        ranked = ranker.combine(sample, planned, responses).answer
        (generated,) = run(model, [Request("generate", tuple(sample.messages))])
        assert ranked == generated.text, sample.id


def test_fingerprint_names_the_weights_by_content(model: ReferenceModel, tmp_path: Path) -> None:
    expected = hashlib.sha256(BUILTIN_WEIGHTS.read_bytes()).hexdigest()
    assert model.fingerprint()["weights_sha256"] == expected
    assert BUILTIN_WEIGHTS.stat().st_size <= 10 * 1024 * 1024
    with np.load(BUILTIN_WEIGHTS) as data:
        arrays = {name: data[name] for name in data.files}
    assert arrays["out.bias"].dtype == np.float16
    arrays["out.bias"] = arrays["out.bias"] + np.float16(1)
    changed = tmp_path / "changed.npz"
    np.savez(changed, **arrays)
    other = build_model(parse_model_spec("reference", f"weights={changed}"))
    assert (
        other.fingerprint()["weights_sha256"] == hashlib.sha256(changed.read_bytes()).hexdigest() != expected
    )
    copied = tmp_path / "copy.npz"
    shutil.copy(BUILTIN_WEIGHTS, copied)
    assert (
        build_model(parse_model_spec("reference", f"weights={copied}")).fingerprint() == model.fingerprint()
    )


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    from mmlens.core.errors import ConfigError

    missing = build_model(parse_model_spec("reference", f"weights={tmp_path / 'nope.npz'}"))
    with pytest.raises(ConfigError, match="nope.npz"):
        missing.fingerprint()


def test_answers_follow_the_pixels(model: ReferenceModel) -> None:
    """Swapping the images of two text questions must swap what the model reads."""
    by_letter: dict[str, Sample] = {}
    for sample in shapes_samples(200):
        if sample.metadata["family"] == "text" and sample.choices:
            by_letter.setdefault(sample.choices["ABCD".index(sample.target or "A")], sample)
    letters = sorted(by_letter)[:2]
    first, second = (by_letter[letter] for letter in letters)
    question = "Which letter is written in the image?\nA. {}\nB. {}\n".format(*letters)
    question += "Answer with the option's letter from the given choices directly."
    answers = []
    for sample in (first, second):
        (response,) = run(
            model, [Request("generate", (Message.user(ImagePart(sample.images[0]), question),))]
        )
        answers.append(response.text)
    assert answers == ["A", "B"]
