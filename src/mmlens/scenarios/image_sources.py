"""Images read again, in a later process, from where a run found them (``ImageRef.source()``).

A run records each image's source in the store (``Store.put_image_sources``) instead of making its
report thumbnail on the spot; ``mmlens report`` reads the images again from there when it needs
thumbnails the store does not have. A source is JSON:

    {"file": "/abs/path/cat.jpg"}
    {"table": {"parquet": ["/abs/data/val-00000-of-00001.parquet"], "base_dir": "/abs/data"},
     "row": 17, "column": "image", "item": null}

A table (parquet shards, a ``save_to_disk`` arrow folder, a TSV with base64 images) is opened once
with the reader that read it for the run, and its cells are read in row order. An image whose bytes
no longer match its digest (the file changed or moved) or cannot be read is left out: the report
shows it without a thumbnail, it never shows another image under the old one's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from mmlens.core.errors import DataError
from mmlens.core.media import FileImage, ImageSource, sha256_hex
from mmlens.scenarios.tables import reopen_table


def _matches(digest: str, data: bytes) -> bool:
    return digest == "sha256:" + sha256_hex(data)


def read_sources(sources: dict[str, ImageSource]) -> Iterator[tuple[str, bytes]]:
    """(digest, encoded image) for each source that can still be read and still holds its image;
    a table is opened once and read in row order."""
    tables: dict[str, list[tuple[str, ImageSource]]] = {}
    for digest, source in sources.items():
        if "file" in source:
            try:
                data = FileImage(source["file"]).encoded()
            except DataError:
                continue
            if _matches(digest, data):
                yield digest, data
        elif "table" in source:
            tables.setdefault(json.dumps(source["table"], sort_keys=True), []).append((digest, source))
    for items in tables.values():
        try:
            table = reopen_table(items[0][1]["table"])
        except (DataError, KeyError, TypeError, IndexError):
            continue  # the data is gone or not readable here: those images get no thumbnail
        items.sort(key=lambda item: (item[1]["row"], item[1]["column"], item[1].get("item") or 0))
        for digest, source in items:
            try:
                data = table.image_at(
                    source["row"], source["column"], f"{table.origin} row {source['row']}", source.get("item")
                )
            except (DataError, KeyError, TypeError, IndexError):
                continue
            if _matches(digest, data):
                yield digest, data
