"""Reading benchmark tables in the formats their authors publish them.

    table = read_table(context.data_path, default_hub_id="Lin-Chen/MMStar", split="val", task="mmstar")
    table.require_columns("index", "question", "image", "answer")
    for row in table:            # dicts, read lazily in batches (large parquet files stay on disk)
        images = row_images(row, "image", table)   # ImageRef list, or SampleError

``source`` may be a parquet file, a folder of parquet shards (the hub's ``data/<split>-*.parquet``
layout, or ``<config>/<split>/*.parquet``), a ``datasets.save_to_disk`` folder (a Dataset or a
DatasetDict), a TSV, JSON (a list of objects, or one key holding that list) or JSONL file. With no
source the hub id is loaded with ``datasets.load_dataset``.

Cells of ``image_columns`` are decoded into ImageRef: the parquet/arrow image struct
``{"bytes", "path"}``, raw bytes, base64 strings (MMBench TSV) and file paths relative to the data
file. Lists of such cells become lists of ImageRef. A cell that is none of these is left as it is
(MMBench TSV rows may hold another row's index instead of an image); ``row_images`` turns such a
cell into a SampleError, so the scenario can report the row as a BadSample.

An image embedded in the data (bytes, base64) is hashed while its row is read and then held as a
``StoredImage``: its digest and its row's position (parquet: file, row group, row, column; arrow,
TSV and hub data: the row and column), read again on demand and checked against the digest, so the
samples of a run never hold the data set's image bytes. Parquet and TSV files are streamed.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import csv
import json
import os
import re
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mmlens.core.errors import DataError, SampleError
from mmlens.core.jsonlines import json_lines
from mmlens.core.media import BytesImage, FileImage, ImageRef, StoredImage, file_problem

Row = dict[str, Any]
BATCH_ROWS = 64
HUB_PROBE_SECONDS = 5.0
_MIN_BASE64_LENGTH = 64  # MMBench: shorter image cells are references to another row's index
# PNG, JPEG, GIF, WEBP (RIFF), BMP, TIFF: a base64 cell counts as an image only if it decodes to one
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*")


@dataclass
class Table:
    """Rows of one benchmark split; iterate it for dicts (images already decoded)."""

    origin: str  # the file, folder or hub id, for messages
    columns: list[str]
    num_rows: int
    base_dir: Path | None
    _batches: Callable[[], Iterator[list[Row]]]
    image_columns: tuple[str, ...] = ("image",)
    # Reads one cell again by row number (parquet, arrow, TSV, a hub data set): embedded images
    # then become StoredImage references instead of holding their bytes for the whole run.
    reread: Callable[[int, str], Any] | None = None
    # How another process opens this data again (``image_sources.open_table``): the reader and its
    # files; None where it cannot (hub data, JSON rows held in memory).
    reopen: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Row]:
        index = 0
        for batch in self._batches():
            for row in batch:
                for column in self.image_columns:
                    if column in row:
                        label = f"{self.origin} row {index}"
                        cell = decode_image_cell(row[column], self.base_dir, label)
                        if self.reread is not None:
                            source = (
                                {"table": self.reopen, "row": index, "column": column}
                                if self.reopen is not None
                                else None
                            )
                            cell = _as_stored(cell, partial(self.image_at, index, column, label), source)
                        row[column] = cell
                index += 1
                yield row

    def image_at(self, row: int, column: str, label: str, item: int | None) -> bytes:
        """The encoded image of cell (row, column), list item ``item``, read again from the data."""
        assert self.reread is not None
        cell = decode_image_cell(self.reread(row, column), self.base_dir, label)
        if item is not None:
            cell = cell[item] if isinstance(cell, list) and item < len(cell) else None
        if not isinstance(cell, BytesImage):
            raise DataError(f"{label}, column {column!r}: the image is no longer in the data")
        return cell.encoded()

    def __len__(self) -> int:
        return self.num_rows

    def require_columns(self, *names: str) -> None:
        """DataError naming the data and every missing column."""
        missing = [name for name in names if name not in self.columns]
        if missing:
            found = ", ".join(self.columns) or "none"
            raise DataError(
                f"{self.origin}: missing column(s) {', '.join(missing)} (found: {found}); "
                "is this the benchmark's published format?"
            )


def read_table(
    source: str | Path | None,
    *,
    default_hub_id: str,
    split: str,
    task: str,
    config: str | None = None,
    image_columns: Sequence[str] = ("image",),
) -> Table:
    """Open ``source`` (or the hub id when None) and return its rows for ``split``."""
    if source is None:
        table = _read_hub(default_hub_id, config, split, task)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DataError(f"task {task}: data path {path} does not exist")
        table = _read_folder(path, config, split, task) if path.is_dir() else _read_file(path, task)
    table.image_columns = tuple(image_columns)
    if table.num_rows == 0:
        raise DataError(f"task {task}: {table.origin} has no rows")
    return table


# --- images -----------------------------------------------------------------------------------


def decode_image_cell(cell: Any, base_dir: Path | None, label: str) -> Any:
    """ImageRef (or a list of them) for the published encodings; other cells are returned unchanged."""
    if isinstance(cell, ImageRef) or cell is None:
        return cell
    if isinstance(cell, list | tuple):
        return [decode_image_cell(item, base_dir, label) for item in cell]
    if isinstance(cell, dict) and ("bytes" in cell or "path" in cell):
        if cell.get("bytes"):
            return BytesImage(bytes(cell["bytes"]), label=cell.get("path") or label)
        if cell.get("path"):
            return _file_image(str(cell["path"]), base_dir)
        return None
    if isinstance(cell, bytes | bytearray | memoryview):
        return BytesImage(bytes(cell), label=label)
    if isinstance(cell, str):
        if base_dir is not None and len(cell) <= _MAX_PATH_LENGTH and _is_file(base_dir / cell):
            return FileImage(base_dir / cell)
        if len(cell) > _MIN_BASE64_LENGTH:
            try:
                data = base64.b64decode(cell, validate=True)
            except (binascii.Error, ValueError):
                return cell
            return BytesImage(data, label=label) if data.startswith(_IMAGE_MAGIC) else cell
    return cell


def _as_stored(cell: Any, read: Callable[[int | None], bytes], source: dict[str, Any] | None = None) -> Any:
    """An embedded image (or the embedded images of a list) as StoredImage: hashed now, its bytes
    dropped, read again through ``read(item)`` when needed. Other cells are returned unchanged.
    ``source`` (the data, row and column) becomes each image's ``source()``, its list item added."""

    def stored(item: BytesImage, number: int | None) -> StoredImage:
        where = {**source, "item": number} if source is not None else None
        return StoredImage(item.digest, partial(read, number), item.describe(), where)

    if isinstance(cell, BytesImage):
        return stored(cell, None)
    if isinstance(cell, list):
        return [
            stored(item, number) if isinstance(item, BytesImage) else item for number, item in enumerate(cell)
        ]
    return cell


# Linux's PATH_MAX: a longer cell (a base64 image) is no file name, and parsing it as a path costs
# more than decoding it
_MAX_PATH_LENGTH = 4096


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a base64 cell is no valid file name (too long, NUL, ...)
        return False


def _file_image(path: str, base_dir: Path | None) -> FileImage:
    file = Path(path)
    return FileImage(file if file.is_absolute() or base_dir is None else base_dir / file)


def row_images(row: Row, column: str, table: Table | str, row_id: str | None = None) -> list[ImageRef]:
    """The decoded images of ``row[column]``; SampleError when a cell is not an image."""
    cell = row.get(column)
    items = cell if isinstance(cell, list) else [cell]
    images = [item for item in items if item is not None]
    origin = table.origin if isinstance(table, Table) else table
    sample_id = row_id or "?"
    for item in images:
        if not isinstance(item, ImageRef):
            shown = repr(item)[:60]
            raise SampleError(sample_id, f"{origin}: column {column!r} holds {shown}, not an image")
        problem = file_problem(item.path) if isinstance(item, FileImage) else None
        if problem is not None:  # missing, a folder, a device or pipe such as /dev/zero, unreadable
            raise SampleError(sample_id, f"{origin}: {problem}")
    return images


def one_row_image(row: Row, column: str, table: Table | str, row_id: str) -> ImageRef:
    """The single image of ``row[column]``; SampleError when there is none, several, or not an image."""
    images = row_images(row, column, table, row_id)
    if len(images) != 1:
        origin = table.origin if isinstance(table, Table) else table
        raise SampleError(row_id, f"{origin}: expected one image in column {column!r}, found {len(images)}")
    return images[0]


# Strings pandas reads as NaN by default; VLMEvalKit reads the official TSVs with pandas, so an
# option or hint cell holding one of these counts as absent there, and here too.
PANDAS_NA_STRINGS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


def is_missing(value: Any) -> bool:
    """None, NaN, or a string pandas would read as NaN."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and value in PANDAS_NA_STRINGS


def cell_text(value: Any) -> str | None:
    """The cell as text (integers stay integers: 12.0 -> "12"); None when missing."""
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def find_file(relative: str, roots: Sequence[Path]) -> Path | None:
    """The first ``root / relative`` that is a file."""
    for root in roots:
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


# --- sources ----------------------------------------------------------------------------------


def _pyarrow(task: str) -> Any:
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise DataError(
            f"task {task}: reading parquet/arrow data needs pyarrow, in the optional extra "
            "mmlens[data] (pip install 'mmlens[data]')"
        ) from None
    return pyarrow


def _arrow_batches(tables: Callable[[], Iterator[Any]]) -> Callable[[], Iterator[list[Row]]]:
    import pyarrow

    def batches() -> Iterator[list[Row]]:
        for table in tables():
            if isinstance(table, pyarrow.RecordBatch):
                yield table.to_pylist()
                continue
            for batch in table.to_batches(max_chunksize=BATCH_ROWS):
                yield batch.to_pylist()

    return batches


class _ParquetCells:
    """Single cells of parquet files read again by their stable position: the file, the row group,
    the row within it and the column (a global row number is mapped to these).

    Streaming: batches of ``REREAD_ROWS`` rows of the one column are read, the pages before a row
    are skipped, never held (a row group of megapixel images is not loaded whole); the last few
    batches are kept. The readers (the unreadable-image check, thumbnails, the backend encoding
    requests) go through the rows in order, and each keeps a cursor, so each row group is read about
    once per pass."""

    REREAD_ROWS = 16
    CURSORS = 4
    KEPT_BATCHES = 6

    def __init__(self, files: list[Path], row_groups: list[list[int]], task: str) -> None:
        self._files = files
        self._task = task
        self._groups: list[tuple[int, int]] = []  # (file number, row group) in row order
        self._firsts: list[int] = []  # the global row number of each group's first row
        self._sizes: list[int] = []
        start = 0
        for number, sizes in enumerate(row_groups):
            for group, size in enumerate(sizes):
                self._groups.append((number, group))
                self._firsts.append(start)
                self._sizes.append(size)
                start += size
        self._handles: dict[int, Any] = {}
        self._cursors: list[list[Any]] = []  # [group, column, next batch number, batch iterator]
        self._kept: dict[tuple[int, str, int], list[Any]] = {}
        self._lock = threading.Lock()

    def cell(self, row: int, column: str) -> Any:
        group = bisect.bisect_right(self._firsts, row) - 1
        if group < 0 or row - self._firsts[group] >= self._sizes[group]:
            raise DataError(f"task {self._task}: row {row} is not in {self._files[0]}")
        number, within = divmod(row - self._firsts[group], self.REREAD_ROWS)
        key = (group, column, number)
        with self._lock:
            values = self._kept.get(key)
            if values is None:
                values = self._read(group, column, number)
                self._kept[key] = values
                while len(self._kept) > self.KEPT_BATCHES:
                    del self._kept[next(iter(self._kept))]
            return values[within]

    def _read(self, group: int, column: str, number: int) -> list[Any]:
        import pyarrow

        file_number, row_group = self._groups[group]
        try:
            usable = [c for c in self._cursors if c[0] == group and c[1] == column and c[2] <= number]
            if usable:
                cursor = max(usable, key=lambda c: c[2])
            else:
                handle = self._handles.get(file_number)
                if handle is None:
                    handle = pyarrow.parquet.ParquetFile(
                        self._files[file_number], pre_buffer=False, buffer_size=1 << 20
                    )
                    self._handles[file_number] = handle
                batches = handle.iter_batches(
                    batch_size=self.REREAD_ROWS, row_groups=[row_group], columns=[column]
                )
                cursor = [group, column, 0, batches]
                self._cursors.append(cursor)
                if len(self._cursors) > self.CURSORS:
                    self._cursors.pop(0)
            while True:
                batch = next(cursor[3])
                cursor[2] += 1
                if cursor[2] - 1 == number:
                    if cursor[2] * self.REREAD_ROWS >= self._sizes[group]:  # the group's last batch
                        self._cursors.remove(cursor)
                    return list(batch.column(0).to_pylist())
        except StopIteration:
            raise DataError(f"task {self._task}: parquet file {self._files[file_number]} changed") from None
        except (OSError, pyarrow.ArrowException) as error:
            raise DataError(
                f"task {self._task}: cannot read parquet file {self._files[file_number]} again: {error}"
            ) from None


def _read_parquet_files(files: list[Path], origin: str, base_dir: Path, task: str) -> Table:
    pa = _pyarrow(task)
    try:
        # pre_buffer off: batch by batch, not every row group read ahead and held (images are large)
        handles = [pa.parquet.ParquetFile(file, pre_buffer=False, buffer_size=1 << 20) for file in files]
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"task {task}: cannot read parquet data {origin}: {error}") from None
    columns = list(handles[0].schema_arrow.names)
    for file, handle in zip(files, handles, strict=True):
        if list(handle.schema_arrow.names) != columns:
            raise DataError(f"task {task}: parquet shard {file} has other columns than {files[0]}")

    def tables() -> Iterator[Any]:
        for file, handle in zip(files, handles, strict=True):
            batches = handle.iter_batches(batch_size=BATCH_ROWS)
            while True:
                try:  # a corrupt page (the footer intact) fails only when its batch is decoded
                    batch = next(batches)
                except StopIteration:
                    break
                except (OSError, pa.ArrowException) as error:
                    raise DataError(f"task {task}: parquet file {file} is corrupt: {error}") from None
                yield batch

    num_rows = sum(handle.metadata.num_rows for handle in handles)
    row_groups = [
        [handle.metadata.row_group(group).num_rows for group in range(handle.metadata.num_row_groups)]
        for handle in handles
    ]
    cells = _ParquetCells(files, row_groups, task)
    reopen = {"parquet": [str(file.absolute()) for file in files], "base_dir": str(base_dir.absolute())}
    return Table(
        origin, columns, num_rows, base_dir, _arrow_batches(tables), reread=cells.cell, reopen=reopen
    )


def _read_arrow_files(files: list[Path], origin: str, base_dir: Path, task: str) -> Table:
    pa = _pyarrow(task)
    try:
        tables = [pa.ipc.open_stream(pa.memory_map(str(file))).read_all() for file in files]
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"task {task}: cannot read arrow data {origin}: {error}") from None
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return Table(
        origin,
        list(table.schema.names),
        table.num_rows,
        base_dir,
        _arrow_batches(lambda: iter([table])),
        reread=lambda row, column: table.column(column)[row].as_py(),  # memory-mapped: nothing copied
        reopen={"arrow": [str(file.absolute()) for file in files], "base_dir": str(base_dir.absolute())},
    )


def _rows_table(rows: list[Row], origin: str, base_dir: Path) -> Table:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return Table(origin, list(columns), len(rows), base_dir, lambda: iter([rows]))


class _Lines:
    """The lines of a binary file as text, counting the bytes read: before ``csv.reader`` takes a
    record, ``offset`` is where that record starts (the reader asks for lines only as it needs them)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.offset = handle.tell()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline()
        if not line:
            raise StopIteration
        text = line.decode("utf-8-sig" if self.offset == 0 else "utf-8")
        self.offset += len(line)
        return text


def _tsv_row(header: list[str], fields: list[str]) -> Row:
    """As ``csv.DictReader`` makes it: missing fields None, extra ones in a list under None."""
    row: Row = dict(zip(header, fields, strict=False))
    if len(fields) < len(header):
        row.update(dict.fromkeys(header[len(fields) :]))
    elif len(fields) > len(header):
        row[None] = fields[len(header) :]  # type: ignore[index]
    return row


def _read_tsv(path: Path, task: str) -> Table:
    """Streamed: a first pass counts the rows and notes where each starts; the rows are then read
    batch by batch, and an embedded image is read again from its row's offset when needed (the
    MMBench TSVs hold every image as base64)."""
    csv.field_size_limit(sys.maxsize)  # base64 images make long cells
    offsets: list[int] = []
    try:
        with path.open("rb") as handle:
            lines = _Lines(handle)
            reader = csv.reader(lines, delimiter="\t")
            header = next(reader, [])
            while True:
                start = lines.offset
                fields = next(reader, None)
                if fields is None:
                    break
                if fields:  # DictReader skips blank lines
                    offsets.append(start)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"task {task}: cannot read TSV file {path}: {error}") from None

    def batches() -> Iterator[list[Row]]:
        try:
            with path.open("rb") as handle:
                for start in range(0, len(offsets), BATCH_ROWS):
                    handle.seek(offsets[start])
                    reader = csv.reader(_Lines(handle), delimiter="\t")
                    count = min(BATCH_ROWS, len(offsets) - start)
                    rows: list[Row] = []
                    while len(rows) < count:
                        fields = next(reader)
                        if fields:
                            rows.append(_tsv_row(header, fields))
                    yield rows
        except (OSError, UnicodeDecodeError, csv.Error, StopIteration) as error:
            raise DataError(
                f"task {task}: cannot read TSV file {path} (changed while read?): {error}"
            ) from None

    def reread(row: int, column: str) -> Any:
        try:
            with path.open("rb") as handle:
                handle.seek(offsets[row])
                return _tsv_row(header, next(csv.reader(_Lines(handle), delimiter="\t"))).get(column)
        except (OSError, UnicodeDecodeError, csv.Error, StopIteration) as error:
            raise DataError(f"task {task}: cannot read TSV file {path} again: {error}") from None

    reopen = {"tsv": str(path.absolute())}
    return Table(str(path), list(header), len(offsets), path.parent, batches, reread=reread, reopen=reopen)


def _read_json(path: Path, task: str) -> Table:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"task {task}: cannot read JSON file {path}: {error}") from None
    if isinstance(data, dict):
        lists = [
            value
            for value in data.values()
            if isinstance(value, list) and value and isinstance(value[0], dict)
        ]
        if len(lists) != 1:
            raise DataError(
                f"task {task}: JSON file {path}: expected a list of objects (or one key holding it)"
            )
        data = lists[0]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise DataError(f"task {task}: JSON file {path}: expected a list of objects")
    return _rows_table(data, str(path), path.parent)


def _read_jsonl(path: Path, task: str) -> Table:
    rows: list[Row] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for line in json_lines(handle):
                if line.error is not None:
                    raise DataError(f"task {task}: {path}, line {line.number}: {line.error}")
                if not isinstance(line.value, dict):
                    raise DataError(f"task {task}: {path}, line {line.number}: expected a JSON object")
                rows.append(line.value)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"task {task}: cannot read {path}: {error}") from None
    return _rows_table(rows, str(path), path.parent)


_FILE_READERS: dict[str, Callable[[Path, str], Table]] = {
    ".parquet": lambda path, task: _read_parquet_files([path], str(path), path.parent, task),
    ".arrow": lambda path, task: _read_arrow_files([path], str(path), path.parent, task),
    ".tsv": _read_tsv,
    ".json": _read_json,
    ".jsonl": _read_jsonl,
}


def _read_file(path: Path, task: str) -> Table:
    reader = _FILE_READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(_FILE_READERS))
        raise DataError(f"task {task}: cannot read {path}: unknown file type (expected {known} or a folder)")
    return reader(path, task)


_SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z_][\w.]*?)(?:-\d{5}-of-\d{5}(?:-[0-9a-f]+)?)?\.parquet$")


_REOPENERS: dict[str, Callable[[dict[str, Any]], Table]] = {
    "parquet": lambda spec: _read_parquet_files(
        [Path(f) for f in spec["parquet"]], spec["parquet"][0], Path(spec["base_dir"]), "report"
    ),
    "arrow": lambda spec: _read_arrow_files(
        [Path(f) for f in spec["arrow"]], spec["arrow"][0], Path(spec["base_dir"]), "report"
    ),
    "tsv": lambda spec: _read_tsv(Path(spec["tsv"]), "report"),
}


def reopen_table(spec: dict[str, Any]) -> Table:
    """The data a ``Table.reopen`` names, opened again with the reader that read it first."""
    for kind, opener in _REOPENERS.items():
        if kind in spec:
            return opener(spec)
    raise DataError(f"cannot open data again from {sorted(spec)}: not a known table reader")


def _split_of(file: Path, root: Path) -> str:
    """``<split>-00000-of-00001[-<hash>].parquet`` or ``<split>.parquet``; else the folder name
    (``<split>/0000.parquet``)."""
    match = _SHARD_NAME.match(file.name)
    if match:
        return match.group("split")
    relative = file.relative_to(root).parts
    return relative[-2] if len(relative) > 1 else ""


def _read_folder(path: Path, config: str | None, split: str, task: str) -> Table:
    if config is not None and (path / config).is_dir() and not (path / "state.json").exists():
        path = path / config
    if (path / "dataset_dict.json").is_file():
        if not (path / split / "state.json").is_file():
            found = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
            raise DataError(
                f"task {task}: {path} has no split {split!r} (found: {', '.join(found) or 'none'})"
            )
        path = path / split
    if (path / "state.json").is_file():
        try:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
            files = [path / item["filename"] for item in state["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(
                f"task {task}: {path}/state.json is not a datasets.save_to_disk state: {error}"
            ) from None
        return _read_arrow_files(files, str(path), path, task)
    shards = sorted(path.rglob("*.parquet"))
    if not shards:
        raise DataError(f"task {task}: {path} holds no parquet files, save_to_disk data or {split} split")
    by_split: dict[str, list[Path]] = {}
    for shard in shards:
        by_split.setdefault(_split_of(shard, path), []).append(shard)
    if split in by_split:
        shards = by_split[split]
    elif len(by_split) > 1:
        raise DataError(
            f"task {task}: {path} has no {split!r} shards (found splits: {', '.join(sorted(by_split))})"
        )
    return _read_parquet_files(shards, str(path), path, task)


def _offline_mode() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def ensure_hub_reachable(hub_id: str) -> None:
    """Fail in seconds, not after the hub client's half-minute of retries, when the hub cannot be
    reached. In offline mode (HF_HUB_OFFLINE=1) nothing is probed: cached copies are used."""
    if _offline_mode():
        return
    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=HUB_PROBE_SECONDS):
            pass
    except OSError as error:
        raise DataError(
            f"cannot load {hub_id} from the Hugging Face hub ({host} is unreachable: "
            f"{error.strerror or error}; HF_HUB_OFFLINE=1 uses a copy in the Hugging Face cache); "
            "pass --data PATH to a local copy in the published format"
        ) from None


def _read_hub(hub_id: str, config: str | None, split: str, task: str) -> Table:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"task {task}: loading {hub_id} from the Hugging Face hub needs the optional extra mmlens[data] "
            "(pip install 'mmlens[data]'); or pass --data PATH to a local copy in the published format"
        ) from None
    ensure_hub_reachable(hub_id)
    try:
        dataset = datasets.load_dataset(hub_id, config, split=split)
    except Exception as error:  # noqa: BLE001 - network, auth, missing split: all end in one message
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise DataError(
            f"cannot load {hub_id} from the Hugging Face hub ({reason}); "
            "pass --data PATH to a local copy in the published format"
        ) from None
    arrow = dataset.with_format("arrow")
    origin = f"{hub_id} ({config + ', ' if config else ''}split {split})"
    return Table(
        origin,
        list(dataset.column_names),
        dataset.num_rows,
        None,
        _arrow_batches(lambda: arrow.iter(batch_size=BATCH_ROWS)),
        reread=lambda row, column: arrow[row].column(column)[0].as_py(),  # the memory-mapped cache
    )
