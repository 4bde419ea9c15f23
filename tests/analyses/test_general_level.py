"""General-Level's Level-2 .. Level-5 worked out by hand from the official scorer
(path2generalist/General-Level@420b8ebeff80fa6de35182d55e043f5d08fd8a34: ranker.py and
utils/special_metrix.py) on small workbooks in the published layout.

Identities used below: 2·sigmoid(x) - 1 = tanh(x/2), so the lower-is-better mapping
(2·sigmoid(T/v) - 1)·100 = tanh(T/(2v))·100 and NLP RMSE's (2/(1 + exp(-5/v)) - 1)·100 = tanh(2.5/v)·100.
Numbers: tanh(0.25) = 0.24491866240370913, tanh(0.5) = 0.46211715726000974, tanh(1) = 0.7615941559557649.
The same fixture was also scored by the official ranker.py itself (pandas 3.1.1, openpyxl 3.1.5); the
``OFFICIAL_*`` constants are its values, which mmlens matches exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mmlens.analyses.general_level import general_level, map_special, nlp_rmse, read_workbook
from mmlens.cli import main
from mmlens.core.errors import DataError

openpyxl = pytest.importorskip("openpyxl")

LAYOUT = ["No", "Task Name", "Task Short Name", "Metrics"]
T025, T05, T1 = math.tanh(0.25) * 100, math.tanh(0.5) * 100, math.tanh(1) * 100

# Each sheet: (metric, SoTA, ModelA, ModelB) rows. None is an empty cell.
SHEETS: dict[str, list[tuple[Any, ...]]] = {
    "NLP": [
        ("ACC", 50, 55, None),
        ("RMSE", 2.31, 5.0, None),  # official: model 5.0 -> tanh(2.5/5)·100 = T05 vs raw SoTA 2.31
        ("F1", 30, "n/a", None),  # pandas reads 'n/a' as NaN: unsupported
    ],
    "Image-Comprehension": [
        ("Acc", 50, 60, None),  # win
        ("Acc", 40, 40, None),  # a tie is a win
        ("Acc", 80, None, None),  # unsupported
    ],
    "Image-Generation": [
        ("FID", 25, 12.5, None),  # SoTA tanh(25/50)=T05, model tanh(25/25)=T1: win
        ("PSNR", 20, 10, None),  # SoTA tanh(20/20)=T1, model tanh(10/20)=T05: lost
        ("MSE", 0, 0.0, None),  # 0.0 -> a valid 0.0 on both sides: a "win" worth 0
    ],
    "Audio-Comprehension": [
        ("ACC", 90, 80, None),  # lost
        ("ACC", 70, "inf", None),  # unsupported
    ],
    "Audio-Generation": [
        ("WER", 5.6, 0.07, None),  # SoTA (1-5.6)·100 = -460 (percent read as a fraction); model 93
        ("MOS", 3.8, "∞", None),  # SoTA (3.8-1)/4·100 = 70; model unsupported -> a valid 0.0
    ],
    "3D-Comprehension": [
        ("RTE ( Relative Translation Error)", 0.5, 0.25, None),  # not a key: raw 0.25 >= 0.5 is False
        ("Acc", 60, 60.0, None),  # tie: win
    ],
    "3D-Generation": [
        ("CD (Chamfer Distance)", 2, 1, None),  # not a key: raw 1 >= 2 is False
    ],
}

# Official profile, by hand:
# Image: C = [60, 40, inf] (M=3) -> L2_C = (60+40)/3, S_C = (60+40)/3 = 100/3
#        G = [T1, T05, 0.0] vs SoTA [T05, T1, 0.0] (N=3) -> L2_G = (T1+T05+0)/3, S_G = (T1+0+0)/3
IMAGE_L2 = (100 / 3 + (T1 + T05) / 3) / 2
IMAGE_SC, IMAGE_SG = 100 / 3, T1 / 3
IMAGE_L3 = (IMAGE_SC + IMAGE_SG) / 2
IMAGE_L4 = 2 * IMAGE_SC * IMAGE_SG / (IMAGE_SC + IMAGE_SG + 1e-6)
# Audio: C = [80, inf] vs [90, 70] -> L2_C = 80/2 = 40, S_C = 0 (80 < 90) -> L4 = 0
#        G = [93, 0.0] vs [-460, 70] -> L2_G = 93/2, S_G = 93/2 (93 >= -460; 0 < 70)
AUDIO_L2 = (40 + (1 - 0.07) * 100 / 2) / 2
AUDIO_L3 = (0 + (1 - 0.07) * 100 / 2) / 2
# 3D: C = [0.25, 60] vs [0.5, 60] -> L2_C = 60.25/2, S_C = 60/2 = 30
#     G = [1] vs [2] -> L2_G = 1, S_G = 0 -> L4 = 0
D3_L2 = (60.25 / 2 + 1) / 2
D3_L3 = (30 + 0) / 2
LEVEL_2 = (IMAGE_L2 + AUDIO_L2 + D3_L2) / 3
LEVEL_3 = (IMAGE_L3 + AUDIO_L3 + D3_L3) / 3
LEVEL_4 = (IMAGE_L4 + 0 + 0) / 3
# NLP: [55, T05, nan] vs [50, 2.31, 30] -> S_L = (55 + T05)/3 (T05 = 46.2 >= raw 2.31)
S_L = (55 + T05) / 3
LEVEL_5 = LEVEL_4 * S_L / 100

# The official ranker.py run on this fixture (its get_modality_scores / get_level_5 return values, full
# precision; it prints 31.96, 22.54, 9.61, 3.24). mmlens must give the same floats, not just close ones.
OFFICIAL_LEVELS = {
    "Level-2": 31.958118406754306,
    "Level-3": 22.536634199754246,
    "Level-4": 9.607385578201356,
    "Level-5": 3.241266593369991,
}
OFFICIAL_MODALITIES = {  # (Level-2, Level-3, Level-4)
    "Image": (37.061855220262906, 29.359902599262746, 28.822156734604068),
    "Audio": (43.25, 23.25, 0.0),
    "3D": (15.5625, 15.0, 0.0),
}


def write_workbook(
    path: Path, last: str, models: list[str], sheets: dict[str, list[tuple[Any, ...]]]
) -> Path:
    """A workbook in the published layout: No, Task Name, Task Short Name, Metrics, then ``last`` (the
    SoTA column) or one column per model."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append(LAYOUT + ([last] if last else models))
        for number, (metric, sota, *scores) in enumerate(rows, 1):
            values = [sota] if last else scores[: len(models)]
            sheet.append([number, f"{name} task {number}", f"t{number}", metric, *values])
    book.save(path)
    return path


def fixture_pair(tmp_path: Path, sheets: dict[str, list[tuple[Any, ...]]] = SHEETS) -> tuple[Path, Path]:
    sota = write_workbook(tmp_path / "sota_result.xlsx", "SoTA Performance", [], sheets)
    results = write_workbook(tmp_path / "models_result.xlsx", "", ["ModelA", "ModelB"], sheets)
    return sota, results


def test_special_metric_mappings_are_the_official_formulas() -> None:
    assert map_special("mae", 50) == pytest.approx(math.tanh(0.5) * 100)  # (2σ(50/50) - 1)·100
    assert map_special("ABSREL", 0.05) == pytest.approx(T1)  # 2σ(0.1/0.05) - 1 = tanh(1)
    assert map_special("PSNR", 40) == pytest.approx(math.tanh(2) * 100)  # tanh(40/20)
    assert map_special("WER", 0.25) == 75.0  # (1 - x)·100
    assert map_special("MS-SSIM", 0.5) == 75.0  # (x + 1)/2·100
    assert map_special("MOS", 4.0) == 75.0  # (x - 1)/4·100
    with pytest.raises(ValueError, match="must be > 0"):  # special_metrix asserts score > 0
        map_special("FID", -1)
    assert nlp_rmse(5.0) == pytest.approx(T05)  # (2/(1+e^-1) - 1)·100
    assert nlp_rmse(math.inf) == 0.0  # ranker.py: an unsupported NLP RMSE is a valid 0


def test_official_profile_levels_by_hand(tmp_path: Path) -> None:
    report = general_level(*fixture_pair(tmp_path))
    assert report.profile == "official" and [m.model for m in report.models] == ["ModelA", "ModelB"]
    model = report.models[0]
    by = {m.modality: m for m in model.modalities}
    assert list(by) == ["Image", "Audio", "3D"]  # sheet order; NLP is not a modality
    image, audio, d3 = by["Image"], by["Audio"], by["3D"]
    assert image.l2_comprehension == pytest.approx(100 / 3) and image.s_c == pytest.approx(IMAGE_SC)
    assert image.l2_generation == pytest.approx((T1 + T05) / 3) and image.s_g == pytest.approx(IMAGE_SG)
    assert image.level_2 == pytest.approx(IMAGE_L2) and image.level_3 == pytest.approx(IMAGE_L3)
    assert image.level_4 == pytest.approx(IMAGE_L4) and image.level_4 > 0
    # a modality with S_C == 0 has Level-4 = 0, whatever S_G is
    assert audio.s_c == 0.0 and audio.s_g == pytest.approx(46.5) and audio.level_4 == 0.0
    assert audio.level_2 == pytest.approx(AUDIO_L2) and audio.level_3 == pytest.approx(AUDIO_L3)
    assert d3.level_2 == pytest.approx(D3_L2) and d3.level_3 == pytest.approx(D3_L3) and d3.level_4 == 0.0
    assert model.level_2 == pytest.approx(LEVEL_2) and model.level_3 == pytest.approx(LEVEL_3)
    assert model.level_4 == pytest.approx(LEVEL_4)
    assert model.nlp is not None and model.nlp.s_l == pytest.approx(S_L)
    assert model.level_5 == pytest.approx(LEVEL_5)
    # the printed counts: Image supports 4 of 6 (0.0 pairs are left out) and wins 4 (60, 40 tie, FID, 0 == 0)
    assert (image.tasks, image.supporting, image.wins) == (6, 4, 4)
    # Audio: 80 vs 90, 93 vs -460 (a win), 0.0 vs 70 (a valid 0, not "supporting")
    assert (audio.tasks, audio.supporting, audio.wins) == (4, 2, 1)
    # NLP line: raw values, RMSE unmapped (5.0 >= 2.31 still wins)
    assert (model.nlp.tasks, model.nlp.supporting, model.nlp.wins) == (3, 2, 2)
    assert (d3.tasks, d3.supporting, d3.wins) == (3, 3, 1)
    assert model.notes == []


def test_the_official_ranker_values_to_the_last_digit(tmp_path: Path) -> None:
    model = general_level(*fixture_pair(tmp_path)).models[0]
    assert model.levels() == OFFICIAL_LEVELS
    assert {m.modality: (m.level_2, m.level_3, m.level_4) for m in model.modalities} == OFFICIAL_MODALITIES


def test_an_empty_model_column_scores_zero(tmp_path: Path) -> None:
    model = general_level(*fixture_pair(tmp_path), models=["modelb"]).models[0]  # case-insensitive
    assert model.model == "ModelB"
    # every cell empty: only the special-metric rows become valid zeros; nothing else counts
    assert model.levels() == {"Level-2": 0.0, "Level-3": 0.0, "Level-4": 0.0, "Level-5": 0.0}
    # ... and ranker.py's NLP RMSE maps the unsupported (inf) cell to a valid 0.0: 0 >= 2.31 is False
    assert model.nlp is not None and model.nlp.s_l == 0.0
    # ranker.py prints "Supporting 0/6 tasks, Wins: 1" for Image (MSE 0.0 == 0.0) and Audio (0.0 >= -460)
    assert [(m.supporting, m.wins) for m in model.modalities] == [(0, 1), (0, 1), (0, 0)]


def test_fixed_profile_corrects_wer_names_and_nlp_rmse(tmp_path: Path) -> None:
    official = general_level(*fixture_pair(tmp_path)).models[0]
    fixed = general_level(*fixture_pair(tmp_path), profile="fixed").models[0]
    by = {m.modality: m for m in fixed.modalities}
    # Image has no WER, no renamed metric: the same
    assert by["Image"].to_dict() == {m.modality: m for m in official.modalities}["Image"].to_dict()
    # Audio: SoTA WER 5.6% -> 0.056 -> 94.4; model 0.07 -> 93 < 94.4 is lost now -> S_G = 0
    assert by["Audio"].s_g == 0.0 and by["Audio"].level_3 == 0.0
    assert by["Audio"].level_2 == pytest.approx(AUDIO_L2)  # Level-2 reads the model's values only
    # 3D: RTE as RTE (T = 0.5): SoTA tanh(0.5/(2·0.5)) = T05, model tanh(0.5/(2·0.25)) = T1: won
    #     CD as CD (T = 1): SoTA tanh(1/(2·2)) = T025, model tanh(1/(2·1)) = T05: won
    d3 = by["3D"]
    assert d3.l2_comprehension == pytest.approx((T1 + 60) / 2) and d3.s_c == pytest.approx((T1 + 60) / 2)
    assert d3.l2_generation == pytest.approx(T05) and d3.s_g == pytest.approx(T05)
    assert d3.level_4 == pytest.approx(2 * d3.s_c * d3.s_g / (d3.s_c + d3.s_g + 1e-6)) and d3.level_4 > 0
    assert fixed.level_4 == pytest.approx((IMAGE_L4 + 0 + d3.level_4) / 3)
    # NLP RMSE mapped on both sides: SoTA tanh(2.5/2.31)·100 = 79.4 > model T05 = 46.2: lost
    assert nlp_rmse(2.31) == pytest.approx(math.tanh(2.5 / 2.31) * 100)
    assert fixed.nlp is not None and fixed.nlp.s_l == pytest.approx(55 / 3)
    assert fixed.level_5 == pytest.approx(fixed.level_4 * (55 / 3) / 100)
    assert fixed.nlp.wins == 1


def test_only_the_first_nlp_rmse_row_is_mapped_officially(tmp_path: Path) -> None:
    sheets = dict(SHEETS)
    sheets["NLP"] = [("RMSE", 2.31, 5.0, None), ("RMSE", 2.0, 3.0, None), ("ACC", 10, 20, None)]
    official = general_level(*fixture_pair(tmp_path, sheets)).models[0]
    # first RMSE: T05 >= 2.31 (win); second raw 3.0 >= 2.0 (win, unmapped); ACC 20 >= 10
    assert official.nlp is not None and official.nlp.s_l == pytest.approx((T05 + 3.0 + 20) / 3)
    fixed = general_level(*fixture_pair(tmp_path, sheets), profile="fixed").models[0]
    # fixed: both rows mapped on both sides; tanh(2.5/3) < tanh(2.5/2): lost; T05 < tanh(2.5/2.31): lost
    assert fixed.nlp is not None and fixed.nlp.s_l == pytest.approx(20 / 3)


def test_a_text_nlp_cell_is_scored_with_a_note(tmp_path: Path) -> None:
    sheets = dict(SHEETS)
    sheets["NLP"] = [("ACC", 50, 55, None), ("ACC", 40, "∞", None)]
    model = general_level(*fixture_pair(tmp_path, sheets)).models[0]
    assert model.nlp is not None and model.nlp.s_l == pytest.approx(55 / 2)  # '∞' is unsupported
    assert len(model.notes) == 1 and "sheet 'NLP', row 3" in model.notes[0] and "TypeError" in model.notes[0]


def test_rows_pair_by_position_and_pandas_reading(tmp_path: Path) -> None:
    sota = write_workbook(tmp_path / "s.xlsx", "SoTA Performance", [], SHEETS)
    results = write_workbook(tmp_path / "r.xlsx", "", ["ModelA"], SHEETS)
    book = openpyxl.load_workbook(results)
    sheet = book["Image-Comprehension"]
    sheet.delete_rows(4)  # the results lose their last Image-Comprehension row (M stays 3 for S_C)
    sheet.cell(row=2, column=5, value="60")  # a number as text is a number
    book.save(results)
    assert read_workbook(results)["Image-Comprehension"].column("ModelA") == ["60", 40]
    image = general_level(sota, results).models[0].modalities[0]
    # L2_C divides by the 2 paired rows (the zip in normalize_special_metrics); S_C by the 3 SoTA rows
    assert image.l2_comprehension == pytest.approx(100 / 2) and image.s_c == pytest.approx(100 / 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "no_sota_column",
            r"sota_result.xlsx, sheet 'Image-Generation': no 'SoTA Performance' column in row 1",
        ),
        (
            "negative",
            r"models_result.xlsx, sheet 'Image-Generation', row 2 \(model 'FID'\): a FID value must be > 0",
        ),
        (
            "missing_sheet",
            r"models_result.xlsx: its sheets must match .*only in the SoTA file: \['3D-Generation'\]",
        ),
        ("nlp_rmse_zero", r"models_result.xlsx, sheet 'NLP', row 3 .*ZeroDivisionError"),
    ],
)
def test_a_bad_workbook_is_one_line_naming_file_sheet_and_row(
    tmp_path: Path, change: str, message: str
) -> None:
    sota, results = fixture_pair(tmp_path)
    path = sota if change == "no_sota_column" else results
    book = openpyxl.load_workbook(path)
    if change == "no_sota_column":
        book["Image-Generation"].cell(row=1, column=5, value="SoTA")
    elif change == "negative":
        book["Image-Generation"].cell(row=2, column=5, value=-3)
    elif change == "missing_sheet":
        book.remove(book["3D-Generation"])
    else:
        book["NLP"].cell(row=3, column=5, value=0)
    book.save(path)
    with pytest.raises(DataError, match=message) as caught:
        general_level(sota, results)
    assert "\n" not in str(caught.value)


def test_cli_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sota, results = fixture_pair(tmp_path)
    assert main(["analyze", "general-level", "--specialists", str(sota), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    header, row_a = out.splitlines()[0].split(), out.splitlines()[1].split()
    assert header == ["model", "Level-2", "Level-3", "Level-4", "Level-5"]
    assert row_a == ["ModelA", f"{LEVEL_2:.2f}", f"{LEVEL_3:.2f}", f"{LEVEL_4:.2f}", f"{LEVEL_5:.2f}"]
    assert "Audio" in out and "profile official" in out

    argv = ["analyze", "general-level", "--specialists", str(sota), "--results", str(results)]
    assert main([*argv, "--profile", "fixed", "--json", "--model", "ModelA"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"] == "fixed" and [m["model"] for m in data["models"]] == ["ModelA"]
    assert data["models"][0]["NLP"]["S_L"] == pytest.approx(55 / 3)
    assert set(data["models"][0]["modalities"]) == {"Image", "Audio", "3D"}

    assert main([*argv[:3], str(tmp_path / "missing.xlsx"), "--results", str(results)]) == 2
    assert "missing.xlsx: no such file" in capsys.readouterr().err
