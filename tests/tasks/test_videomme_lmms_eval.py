"""Video-MME's ``lmms-eval-0.7.2`` profile: lmms-eval >= 0.7.2 scores with ``extract_mcq_answer``
(EvolvingLMMs-Lab/lmms-eval@cb45ac4 = v0.7.2, tasks/videomme/utils.py:256 and
tasks/_task_utils/mcq_extract.py; unchanged at 75571cf), every question in the denominator.
Each expected letter below is worked out from that code (and was checked against it): the
format priority start 10 > end 9 > answer phrase 7 > "(X)" 6 > "X." 5 > "X:" 4 > "X)" 3 > "X " 2,
the last occurrence within the best format; any capital A-D only where no format matched. The
0.7.1 column is the 2024-06-03 regex (first capital A-D after six prefixes) of the lmms-eval profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mmlens import api
from mmlens.tasks.videomme.metric import FIRST_PREFIXES, extract_characters_regex, lmms_eval_mcq
from tests.fixtures.benchmark_data import write_predictions
from tests.fixtures.videomme_data import build_videomme

CASES = [
    # (response, lmms-eval >= 0.7.2, lmms-eval <= 0.7.1)
    # phrase "the answer is" -> the B after it (7) beats "(B)" (6); 0.7.1 strips the prefix: B
    ("The answer is (B).", "B", "B"),
    # ends with a lone C (end, 9); 0.7.1 takes the B of "Because"
    ("Because of the cat, the answer is C", "C", "B"),
    # the trailing "." is stripped first, so D ends the text (end, 9); 0.7.1: the A of "Option A"
    ("Option A seems plausible, but the correct option is D.", "D", "A"),
    # "A." (period, 5) loses to the final B (end, 9): a reasoning's last word wins
    ("I think it's A. No wait, B.", "B", "A"),
    # both letters follow the phrase (7, 7): the later one; and B ends the text (9)
    ("The answer is A, not B", "B", "A"),
    # no format matches (A, C only inside words): fallback, the later letter (C of "Cats");
    # 0.7.1 does not strip "Answer:" and takes its A
    ("Answer: Cats are animals", "C", "A"),
    # starts with a lone A ("A)": not followed by a letter, start 10) before the later "B)"
    ("A) apple or B) banana", "A", "A"),
    ("  D. durian", "D", "D"),
    ("(C) cat", "C", "C"),
    ("答案是B", "B", "B"),  # the Chinese answer phrase (0.7.2 added it), and B ends the text
    # a capital inside a word is still an answer when nothing else is (fallback)
    ("Dogs run", "D", "D"),
    ("none of them", "", ""),
    ("", "", ""),
]


@pytest.mark.parametrize(("response", "new", "old"), CASES)
def test_extraction_is_lmms_eval_0_7_2s(response: str, new: str, old: str) -> None:
    assert lmms_eval_mcq(response, []) == new
    assert extract_characters_regex(response, FIRST_PREFIXES) == old


def test_the_profile_scores_every_question_with_that_extraction(tmp_path: Path) -> None:
    # answers: 001-1 A, 001-2 C, 001-3 D, 301-1 A, 301-2 C, 301-3 D
    responses = {
        "001-1": "The answer is B, not A",  # 0.7.2: A ends the text (9) -> A, right; 0.7.1: B
        "001-2": "Because it says so, C",  # 0.7.2: C (end), right; 0.7.1: B of "Because", wrong
        "001-3": "none of them",  # "" in both: wrong, still counted
        "301-1": "Answer: Cats",  # 0.7.2: C (fallback, later), wrong; 0.7.1: A, right
        "301-2": "(C)",  # right in both
        "301-3": "I pick D.",  # 0.7.2: D (end), right; 0.7.1: D, right
    }
    data = build_videomme(tmp_path / "vm", videos=False, subtitles=False)
    predictions = write_predictions(tmp_path / "p.jsonl", responses)
    new = api.score("videomme", predictions, data=str(data), profile="lmms-eval-0.7.2").results
    assert new["metrics"]["acc"]["value"] == pytest.approx(4 / 6)
    assert new["metrics"]["acc"]["n"] == 6
    assert new["breakdown"]["duration/short"]["acc"]["value"] == pytest.approx(2 / 3)
    old = api.score("videomme", predictions, data=str(data), profile="lmms-eval").results
    assert old["metrics"]["acc"]["value"] == pytest.approx(3 / 6)  # 301-1, 301-2, 301-3


def test_the_profile_keeps_lmms_evals_prompt_frames_and_subtitles() -> None:
    from mmlens.core.task import load_task_file

    path = Path(api.__file__).parent / "tasks" / "videomme" / "videomme.yaml"
    old = load_task_file(path, profile="lmms-eval")
    new = load_task_file(path, profile="lmms-eval-0.7.2")
    assert new.instruction == old.instruction
    assert (new.instruction.sampling, new.instruction.subtitle_rule) == ("linspace", "lmms_eval")
    assert (new.metric.extractor, new.metric.denominator) == ("lmms_eval_mcq", "all")
