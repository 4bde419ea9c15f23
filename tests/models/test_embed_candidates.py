"""The ``embed_candidates`` inferencer on its own: one request per distinct candidate, cosine
scores of each query's own list with the official tie rules, bad vectors named."""

from __future__ import annotations

import numpy as np

from mmlens.core.messages import Message
from mmlens.core.requests import Response
from mmlens.core.sample import Sample
from mmlens.inferencers.embed import EmbedCandidates


def sample(candidates: list[list[str]]) -> Sample:
    return Sample(id="q", messages=[Message.user("query")], metadata={"candidates": candidates})


def test_identical_candidates_are_one_request_object_and_images_can_be_sent_alone(tmp_path) -> None:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    pairs = [["<|image_1|>\nRepresent the image.", "a.png"], ["cat", ""]]
    first = EmbedCandidates().plan(
        Sample(
            id="1", messages=[Message.user("x")], metadata={"candidates": pairs, "image_root": str(tmp_path)}
        ),
        [Message.user("x")],
    )
    second = EmbedCandidates().plan(
        Sample(
            id="2", messages=[Message.user("y")], metadata={"candidates": pairs, "image_root": str(tmp_path)}
        ),
        [Message.user("y")],
    )
    assert first[1] is second[1] and first[2] is second[2]
    assert [type(p).__name__ for p in first[1].messages[0].content] == ["ImagePart", "TextPart"]
    assert first[1].messages[0].content[1].text == "Represent the image."
    alone = EmbedCandidates(image_alone=True).plan(
        Sample(
            id="3", messages=[Message.user("y")], metadata={"candidates": pairs, "image_root": str(tmp_path)}
        ),
        [Message.user("y")],
    )
    assert [type(p).__name__ for p in alone[1].messages[0].content] == ["ImagePart"]
    assert alone[2].messages[0].content[0].text == "cat"  # a text candidate keeps its text


def test_scores_are_cosine_ties_go_to_the_first_and_shared_responses_are_reused() -> None:
    inferencer = EmbedCandidates()
    shared = Response(embedding=[0.0, 3.0])
    query = Response(embedding=[1.0, 1.0])
    positive = Response(embedding=[2.0, 2.0])  # cosine 1, the same as a later negative
    responses = [query, positive, shared, Response(embedding=[5.0, 5.0])]
    one = sample([["p", ""], ["s", ""], ["n", ""]])
    prediction = inferencer.combine(one, [], responses)
    assert prediction.answer == "0" and prediction.details["argmax"] == 0
    assert prediction.details["positive_score"] == prediction.details["best_score"]  # a true tie
    np.testing.assert_allclose(prediction.details["best_score"], 1.0)
    # the shared response again, in another query's list: the same row, the same scores
    again = inferencer.combine(one, [], [Response(embedding=[0.0, 1.0]), positive, shared, shared])
    assert again.details["top_stable"][:2] == [1, 2] and again.answer == "1"
    np.testing.assert_allclose(again.details["best_score"], 1.0)


def test_bad_vectors_are_named_errors() -> None:
    inferencer = EmbedCandidates()
    one = sample([["p", ""]])
    zero = inferencer.combine(one, [], [Response(embedding=[1.0, 0.0]), Response(embedding=[0.0, 0.0])])
    assert zero.error == "a vector holds NaN or infinity, or is all zeros"
    nan = inferencer.combine(
        one, [], [Response(embedding=[1.0, 0.0]), Response(embedding=[float("nan"), 1.0])]
    )
    assert nan.error == zero.error
    short = inferencer.combine(one, [], [Response(embedding=[1.0, 0.0]), Response(embedding=[1.0])])
    assert short.error == "the query and candidate vectors differ in length"
    failed = inferencer.combine(one, [], [Response(embedding=[1.0]), Response(error="timeout")])
    assert failed.error == "timeout"
