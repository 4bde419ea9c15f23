"""General-Level (Fei et al. 2025, "On Path to Multimodal Generalist: General-Level and
General-Bench", arXiv 2505.04620): Level-2 .. Level-5 from the published spreadsheets.

Reproduces ``path2generalist/General-Level@420b8eb:ranker.py`` and ``utils/special_metrix.py``:

* Two workbooks: the specialists' SoTA (``references/sota_result.xlsx``: sheets ``NLP`` and
  ``{Image,Video,Audio,3D}-{Comprehension,Generation}``, columns ``No, Task Name, Task Short Name,
  Metrics, SoTA Performance``) and the model results (the same sheets, one column per model). They are
  read as ``pandas.read_excel`` reads them (first row = header, trailing empty rows dropped, pandas'
  NA strings), and SoTA and model rows pair **by position**. A cell that is empty, NaN, ``'∞'``,
  ``'inf'`` or not a float is unsupported (``inf``).
* Special metrics (``Metrics.upper()`` exactly a key; SoTA and model; not NLP) are mapped to 0-100:
  lower-is-better ``(2·sigmoid(T/x) - 1)·100``, PSNR ``tanh(x/20)·100``, WER ``(1 - x)·100``,
  MS-SSIM ``(x + 1)/2·100``, MOS ``(x - 1)/4·100``; an unsupported or 0.0 value becomes a *valid* 0.0.
* Per modality, M comprehension and N generation tasks: ``L2 = (Σ_valid C / M + Σ_valid G / N) / 2``,
  ``S_C = Σ_{valid, m >= sota} m / M`` (a tie wins), ``S_G`` alike, ``L3 = (S_C + S_G) / 2``,
  ``L4 = 0 if S_C == 0 or S_G == 0 else 2·S_C·S_G / (S_C + S_G + 1e-6)``; the levels are the means
  over the modalities present (NLP is not one). ``L5 = L4 · S_L / 100`` with
  ``S_L = Σ_{NLP valid, m >= sota} m / T``, where only the first NLP ``RMSE`` row's *model* value is
  mapped, by ``(2 / (1 + exp(-5/x)) - 1)·100``.

Profiles: ``official`` (the default) is that code, its quirks included. ``fixed`` corrects units and
direction: SoTA WER is published in percent while the official predictor (werpy) writes a fraction,
so SoTA WER is divided by 100; ``CD (Chamfer Distance)`` and ``RTE ( Relative Translation Error)``
are mapped as CD and RTE (lower is better) instead of being compared raw with ``>=``; every NLP RMSE
row is mapped on both sides, and an unsupported NLP RMSE stays unsupported (officially it becomes a
valid 0). ``L1 distance`` (Static T2V, SoTA 99.72) is left as it is in both: its published value is
already a higher-is-better percentage.

Where the official script stops with an exception (a special metric value <= 0, an NLP RMSE of 0, a
``Metrics`` cell that is not text before the NLP RMSE row), this module raises a ``DataError`` that
names the file, sheet and row. Where it would only fail after scoring (a non-numeric NLP cell breaks
its printed NLP summary), the scores are given with a note.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmlens.core.errors import ConfigError, DataError
from mmlens.scenarios.tables import PANDAS_NA_STRINGS

Profile = Literal["official", "fixed"]
PROFILES: tuple[Profile, ...] = ("official", "fixed")

MODALITIES = ("Image", "Audio", "Video", "3D")
NLP_SHEET = "NLP"
SKIPPED_SHEET = "level-scores"  # compared lower-cased, as the official script does
METRICS_COLUMN = "Metrics"
SOTA_COLUMN = "SoTA Performance"
# Columns of the published layout; every other named column of a results workbook is a model.
LAYOUT_COLUMNS = frozenset({"no", "task name", "task short name", "metrics", "sota performance"})

# utils/special_metrix.py: the mapping parameter T per special metric (None: a fixed formula).
SPECIAL_METRICS: dict[str, float | None] = {
    "MAE": 50,
    "RMS": 50,
    "MSE": 5,
    "RMSE": 5,
    "ABSREL": 0.1,
    "EPE": 1,
    "FID": 25,
    "FVD": 100,
    "FAD": 10,
    "PSNR": 1 / 20,  # higher is better
    "SAD": 10,
    "RTE": 0.5,
    "CD": 1,
    "MCD": 5,
    "WER": None,
    "MS-SSIM": None,
    "MOS": None,
}
HIGHER_IS_BETTER = ("PSNR",)
# fixed profile: published metric names that mean a special metric but are not its key
FIXED_ALIASES = {"CD (CHAMFER DISTANCE)": "CD", "RTE ( RELATIVE TRANSLATION ERROR)": "RTE"}
NLP_RMSE_T = 5
EPSILON = 1e-6

# The strings pandas.read_excel reads as NaN by default (pandas._libs.parsers.STR_NA_VALUES).
_PANDAS_NA = PANDAS_NA_STRINGS
INF = math.inf


# Reading the workbooks ---------------------------------------------------------------------------


@dataclass
class Sheet:
    """One sheet as ``pandas.read_excel(file, sheet_name=name)`` sees it: column names and data rows
    (NA cells are ``None``), rows padded to the same width."""

    file: Path
    name: str
    columns: list[str]
    rows: list[list[Any]]

    def where(self, index: int | None = None) -> str:
        """``file, sheet S, row R`` (R as Excel numbers it: the header is row 1)."""
        text = f"{self.file}, sheet {self.name!r}"
        return text if index is None else f"{text}, row {index + 2}"

    def column(self, name: str) -> list[Any]:
        if name not in self.columns:
            raise DataError(f"{self.where()}: no {name!r} column in row 1 (found {', '.join(self.columns)})")
        position = self.columns.index(name)
        return [row[position] for row in self.rows]

    def model_column(self, model: str) -> list[Any]:
        """The official lookup: the first column whose name matches case-insensitively."""
        for position, name in enumerate(self.columns):
            if name.lower() == model.lower():
                return [row[position] for row in self.rows]
        raise DataError(f"{self.where()}: no column for model {model!r} in row 1")


def _cell_value(cell: Any) -> Any:
    """pandas' ``OpenpyxlReader._convert_cell``: empty is ``""``, an error cell NaN (``None`` here)."""
    value = cell.value
    if value is None:
        return ""
    if getattr(cell, "data_type", None) == "e":
        return None
    return value


def _header(cells: Sequence[Any]) -> list[str]:
    """Column names as pandas makes them: ``Unnamed: i`` for an empty cell, ``.1`` after a repeat."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for position, value in enumerate(cells):
        name = f"Unnamed: {position}" if value == "" or value is None else str(value)
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def read_workbook(path: str | Path) -> dict[str, Sheet]:
    """Every sheet of an .xlsx file, in workbook order."""
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ModuleNotFoundError as error:  # pragma: no cover - the analysis extra is missing
        raise ConfigError(
            "reading General-Level workbooks needs openpyxl: pip install 'mmlens[analysis]'"
        ) from error
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .xlsx workbook ({error})") from error
    sheets: dict[str, Sheet] = {}
    try:
        for name in book.sheetnames:
            worksheet = book[name]
            if hasattr(worksheet, "reset_dimensions"):  # a read-only sheet's declared size can be wrong
                worksheet.reset_dimensions()
            data: list[list[Any]] = []
            last = -1
            for number, row in enumerate(worksheet.iter_rows()):
                values = [_cell_value(cell) for cell in row]
                while values and values[-1] == "":
                    values.pop()
                if values:
                    last = number
                data.append(values)
            data = data[: last + 1]
            width = max((len(row) for row in data), default=0)
            data = [row + [""] * (width - len(row)) for row in data]
            header = _header(data[0]) if data else []
            rows = [[None if isinstance(v, str) and v in _PANDAS_NA else v for v in row] for row in data[1:]]
            sheets[name] = Sheet(path, name, header, rows)
    finally:
        book.close()
    return sheets


def to_float_inf(value: Any) -> float:
    """ranker.py's ``to_float_inf``: NA, ``'∞'``, ``'inf'`` and anything ``float`` refuses are inf."""
    if value is None:
        return INF
    if isinstance(value, str) and (value.strip() == "∞" or value.strip().lower() == "inf"):
        return INF
    try:
        return float(value)
    except (TypeError, ValueError):
        return INF


def _unsupported(value: float) -> bool:
    return math.isnan(value) or value == INF


# Special metrics ---------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def map_special(metric: str, score: float) -> float:
    """special_metrix.map_function_for_special: a special metric's value on a 0-100 scale."""
    key = metric.upper()
    t = SPECIAL_METRICS[key]
    if not score > 0:
        raise ValueError(f"a {key} value must be > 0 (special_metrix asserts it), found {score}")
    if key in HIGHER_IS_BETTER:
        assert t is not None
        y = math.tanh(t * score)
    elif key == "WER":
        y = 1 - score
    elif key == "MS-SSIM":
        y = (score + 1) / 2
    elif key == "MOS":
        y = (score - 1) / 4
    else:  # lower is better
        assert t is not None
        y = 2 * _sigmoid(t / score) - 1
    return y * 100


def nlp_rmse(x: float) -> float:
    """ranker.py's ``sigmoid_adjust(x) * 100`` for the NLP RMSE row (inf gives 0.0)."""
    return (2 / (1 + math.exp(-NLP_RMSE_T / x)) - 1) * 100


def _special_key(metric: Any, profile: Profile) -> str | None:
    if not isinstance(metric, str):
        return None
    key = metric.upper()
    if profile == "fixed":
        key = FIXED_ALIASES.get(key, key)
    return key if key in SPECIAL_METRICS else None


def _normalize(
    sheet: Sheet, metrics: Sequence[Any], scores: Sequence[float], profile: Profile, side: str
) -> list[float]:
    """ranker.normalize_special_metrics (the zip keeps the shorter of the two lists)."""
    out: list[float] = []
    for index, (metric, score) in enumerate(zip(metrics, scores, strict=False)):
        key = _special_key(metric, profile)
        if key is None:
            out.append(score)
            continue
        if math.isnan(score) or score == INF or score == 0.0:
            out.append(0.0)
            continue
        if profile == "fixed" and key == "WER" and side == "sota":
            score = score / 100  # published in percent; the predictor's werpy WER is a fraction
        try:
            out.append(map_special(key, score))
        except ValueError as error:
            raise DataError(f"{sheet.where(index)} ({side} {metric!r}): {error}") from error
    return out


# The levels --------------------------------------------------------------------------------------


def level_2_mono(scores: Sequence[float]) -> float:
    valid = [s for s in scores if not _unsupported(s)]
    if not valid:
        return 0.0
    return sum(valid) / len(scores)


def level_mono(sota: Sequence[float], scores: Sequence[float]) -> float:
    """S_C or S_G: the scores that reach SoTA (a tie wins), summed over all of the SoTA's tasks."""
    pairs = [
        (s, m) for s, m in zip(sota, scores, strict=False) if not _unsupported(s) and not _unsupported(m)
    ]
    if not pairs:
        return 0.0
    won = [m if m >= s else 0.0 for s, m in pairs]
    return sum(won) / len(sota)


def level_4(s_c: float, s_g: float, epsilon: float = EPSILON) -> float:
    if s_c == 0 or s_g == 0:
        return 0.0
    return 2 * (s_c * s_g) / (s_c + s_g + epsilon)


def _counts(sota: Sequence[float], scores: Sequence[float]) -> tuple[int, int]:
    """The printed summary's (supporting, wins): supporting leaves out 0.0 on either side, wins not."""
    pairs = [
        (s, m) for s, m in zip(sota, scores, strict=False) if not _unsupported(s) and not _unsupported(m)
    ]
    return sum(1 for s, m in pairs if s != 0.0 and m != 0.0), sum(1 for s, m in pairs if m >= s)


@dataclass
class Part:
    """One side of a modality: comprehension or generation."""

    tasks: int = 0
    sota: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, tasks: int, sota: list[float], scores: list[float]) -> None:
        self.tasks += tasks
        self.sota.extend(sota)
        self.scores.extend(scores)


@dataclass
class ModalityLevels:
    modality: str
    level_2: float
    level_3: float
    level_4: float
    l2_comprehension: float
    l2_generation: float
    s_c: float
    s_g: float
    tasks: int
    supporting: int
    wins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "Level-2": self.level_2,
            "Level-3": self.level_3,
            "Level-4": self.level_4,
            "L2_comprehension": self.l2_comprehension,
            "L2_generation": self.l2_generation,
            "S_C": self.s_c,
            "S_G": self.s_g,
            "tasks": self.tasks,
            "supporting": self.supporting,
            "wins": self.wins,
        }


@dataclass
class NlpLevels:
    s_l: float
    tasks: int
    supporting: int
    wins: int

    def to_dict(self) -> dict[str, Any]:
        return {"S_L": self.s_l, "tasks": self.tasks, "supporting": self.supporting, "wins": self.wins}


@dataclass
class ModelLevels:
    model: str
    level_2: float
    level_3: float
    level_4: float
    level_5: float | None
    modalities: list[ModalityLevels]
    nlp: NlpLevels | None
    notes: list[str] = field(default_factory=list)

    def levels(self) -> dict[str, float | None]:
        return {
            "Level-2": self.level_2,
            "Level-3": self.level_3,
            "Level-4": self.level_4,
            "Level-5": self.level_5,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            **self.levels(),
            "modalities": {m.modality: m.to_dict() for m in self.modalities},
            "NLP": self.nlp.to_dict() if self.nlp else None,
            "notes": self.notes,
        }


@dataclass
class GeneralLevelReport:
    specialists: str
    results: str
    profile: Profile
    models: list[ModelLevels]

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysis": "general-level",
            "specialists": self.specialists,
            "results": self.results,
            "profile": self.profile,
            "models": [model.to_dict() for model in self.models],
        }


def _modality_levels(modality: str, comprehension: Part, generation: Part) -> ModalityLevels:
    l2_c, l2_g = level_2_mono(comprehension.scores), level_2_mono(generation.scores)
    s_c = level_mono(comprehension.sota, comprehension.scores)
    s_g = level_mono(generation.sota, generation.scores)
    supporting_c, wins_c = _counts(comprehension.sota, comprehension.scores)
    supporting_g, wins_g = _counts(generation.sota, generation.scores)
    return ModalityLevels(
        modality=modality,
        level_2=(l2_c + l2_g) / 2,
        level_3=(s_c + s_g) / 2,
        level_4=level_4(s_c, s_g),
        l2_comprehension=l2_c,
        l2_generation=l2_g,
        s_c=s_c,
        s_g=s_g,
        tasks=comprehension.tasks + generation.tasks,
        supporting=supporting_c + supporting_g,
        wins=wins_c + wins_g,
    )


def _level_5(
    l4: float, sota_sheet: Sheet, model_sheet: Sheet, model: str, profile: Profile, notes: list[str]
) -> tuple[float, NlpLevels]:
    """ranker.get_level_5, and the counts of its printed NLP line."""
    metrics = sota_sheet.column(METRICS_COLUMN)
    raw_sota = sota_sheet.column(SOTA_COLUMN)
    raw_model = model_sheet.model_column(model)
    sota = [to_float_inf(x) for x in raw_sota]
    scores = [to_float_inf(x) for x in raw_model]
    counted = list(scores)  # the printed summary compares the raw values: RMSE unmapped

    if profile == "official":
        rmse_index = None
        for index, metric in enumerate(metrics):
            if not isinstance(metric, str):
                raise DataError(
                    f"{sota_sheet.where(index)}: the Metrics cell is not text ({metric!r}); ranker.py fails "
                    "on it (AttributeError) looking for the RMSE row (--profile fixed skips it)"
                )
            if metric.upper() == "RMSE":
                rmse_index = index
                break
        rmse_rows = [] if rmse_index is None else [rmse_index]
    else:
        rmse_rows = [i for i, m in enumerate(metrics) if isinstance(m, str) and m.upper() == "RMSE"]
    for index in rmse_rows:
        if index >= len(scores):
            raise DataError(
                f"{model_sheet.where(index)}: no row for the NLP RMSE task (SoTA row {index + 2})"
            )
        try:
            if profile == "official":
                scores[index] = nlp_rmse(scores[index])
            else:
                if not _unsupported(scores[index]):
                    scores[index] = nlp_rmse(scores[index]) if scores[index] != 0 else 100.0
                if not _unsupported(sota[index]):
                    sota[index] = nlp_rmse(sota[index]) if sota[index] != 0 else 100.0
        except (ZeroDivisionError, OverflowError) as error:
            raise DataError(
                f"{model_sheet.where(index)} (model {model!r}, NLP RMSE {scores[index]!r}): ranker.py's "
                f"sigmoid_adjust fails on it ({type(error).__name__})"
            ) from error

    pairs = [
        (s, m) for s, m in zip(sota, scores, strict=False) if not _unsupported(s) and not _unsupported(m)
    ]
    s_l = sum(m if m >= s else 0 for s, m in pairs) / len(sota) if pairs else 0.0
    level_5 = l4 * (s_l / 100) if pairs else 0.0

    # The printed "NLP Modality (Supporting T/N tasks, Wins: W)" line compares the cells as read
    # (official: the RMSE unmapped); a text cell against a number makes that comparison fail.
    for index, (s, m) in enumerate(zip(raw_sota, raw_model, strict=False)):
        if s is None or m is None or isinstance(s, str) == isinstance(m, str):
            continue
        if profile == "official":
            text = m if isinstance(m, str) else s
            notes.append(
                f"{model_sheet.where(index)}: a text cell ({text!r}) in NLP: ranker.py computes these "
                "scores, then fails (TypeError) printing its NLP summary"
            )
        break
    if profile == "official":
        sota_counted = [to_float_inf(x) for x in raw_sota]
    else:
        sota_counted, counted = sota, scores
    counted_pairs = [
        (s, m)
        for s, m in zip(sota_counted, counted, strict=False)
        if not _unsupported(s) and not _unsupported(m)
    ]
    wins = sum(1 for s, m in counted_pairs if m >= s)
    return level_5, NlpLevels(s_l=s_l, tasks=len(metrics), supporting=len(counted_pairs), wins=wins)


def _model_names(sheets: dict[str, Sheet]) -> list[str]:
    for sheet in sheets.values():
        if sheet.name.lower() != SKIPPED_SHEET:
            return [
                c for c in sheet.columns if c.lower() not in LAYOUT_COLUMNS and not c.startswith("Unnamed: ")
            ]
    return []


def general_level(
    specialists: str | Path,
    results: str | Path,
    *,
    profile: Profile = "official",
    models: Iterable[str] | None = None,
) -> GeneralLevelReport:
    """Level-2 .. Level-5 of every model column of ``results`` (or only ``models``) against the
    specialists' SoTA workbook ``specialists``."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown General-Level profile {profile!r} (choose from {', '.join(PROFILES)})")
    sota_book = read_workbook(specialists)
    model_book = read_workbook(results)
    sota_names = [s for s in sota_book if s.lower() != SKIPPED_SHEET]
    model_names = [s for s in model_book if s.lower() != SKIPPED_SHEET]
    if set(sota_names) != set(model_names):
        only_sota = sorted(set(sota_names) - set(model_names))
        only_model = sorted(set(model_names) - set(sota_names))
        raise DataError(
            f"{results}: its sheets must match {specialists}'s (only in the SoTA file: "
            f"{only_sota or 'none'}; only in the results: {only_model or 'none'})"
        )
    for name in sota_names:
        if name == NLP_SHEET:
            continue
        if len(name.split("-")) != 2:
            raise DataError(
                f"{specialists}, sheet {name!r}: not a MODALITY-TASK sheet name (ranker.py stops)"
            )

    available = _model_names(model_book)
    if models is None:
        chosen = available
    else:
        chosen = []
        for wanted in models:
            match = next((c for c in available if c.lower() == wanted.lower()), None)
            if match is None:
                raise DataError(
                    f"{results}: no model column {wanted!r} (found {', '.join(available) or 'none'})"
                )
            chosen.append(match)
    if not chosen:
        raise DataError(
            f"{results}: no model column (a column besides No, Task Name, Task Short Name, Metrics)"
        )
    report = GeneralLevelReport(str(specialists), str(results), profile, [])
    for model in chosen:
        report.models.append(_score_model(specialists, sota_book, model_book, sota_names, model, profile))
    return report


def _score_model(
    specialists: str | Path,
    sota_book: dict[str, Sheet],
    model_book: dict[str, Sheet],
    sheet_names: list[str],
    model: str,
    profile: Profile,
) -> ModelLevels:
    notes: list[str] = []
    data: dict[str, dict[str, Part]] = {}
    for name in sheet_names:
        if name == NLP_SHEET:
            continue
        modality, task = name.split("-")
        if modality not in MODALITIES:
            notes.append(f"sheet {name!r}: unknown modality {modality!r}, skipped (as ranker.py does)")
            continue
        parts = data.setdefault(modality, {"Comprehension": Part(), "Generation": Part()})
        sota_sheet, model_sheet = sota_book[name], model_book[name]
        metrics = sota_sheet.column(METRICS_COLUMN)
        sota = [to_float_inf(x) for x in sota_sheet.column(SOTA_COLUMN)]
        scores = [to_float_inf(x) for x in model_sheet.model_column(model)]
        if len(scores) != len(sota):
            notes.append(
                f"sheet {name!r}: {len(sota)} SoTA rows, {len(scores)} result rows; paired by position "
                "(as ranker.py does)"
            )
        sota = _normalize(sota_sheet, metrics, sota, profile, "sota")
        scores = _normalize(model_sheet, metrics, scores, profile, "model")
        if task in parts:
            parts[task].add(len(metrics), sota, scores)
        else:
            notes.append(f"sheet {name!r}: task {task!r} is neither Comprehension nor Generation; ignored")
    if not data:
        raise DataError(f"{specialists}: no Image/Video/Audio/3D sheet (ranker.py stops)")
    modalities = [
        _modality_levels(m, parts["Comprehension"], parts["Generation"]) for m, parts in data.items()
    ]
    count = len(modalities)
    level_2 = sum(m.level_2 for m in modalities) / count
    level_3 = sum(m.level_3 for m in modalities) / count
    l4 = sum(m.level_4 for m in modalities) / count
    level_5: float | None = None
    nlp: NlpLevels | None = None
    if NLP_SHEET in sheet_names:
        level_5, nlp = _level_5(l4, sota_book[NLP_SHEET], model_book[NLP_SHEET], model, profile, notes)
    else:
        notes.append("no NLP sheet: Level-5 needs it (ranker.py stops with an error)")
    return ModelLevels(model, level_2, level_3, l4, level_5, modalities, nlp, notes)
