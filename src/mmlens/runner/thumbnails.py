"""Small JPEG thumbnails of every image a run used, saved in the store for the HTML report."""

from __future__ import annotations

import io

from mmlens.core.errors import DataError
from mmlens.core.media import ImageRef
from mmlens.core.sample import Sample
from mmlens.store.sqlite import Store

THUMBNAIL_SIDE = 160


def make_thumbnail(image: ImageRef, side: int = THUMBNAIL_SIDE) -> bytes | None:
    try:
        picture = image.pil().copy()
    except DataError:
        return None
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def save_thumbnails(samples: list[Sample], store: Store) -> int:
    """Thumbnail the images the store does not have yet; returns how many were made."""
    images: dict[str, ImageRef] = {}
    for sample in samples:
        for image in sample.images:
            images.setdefault(image.digest, image)
    made: dict[str, bytes] = {}
    for digest in store.missing_thumbnails(images):
        thumbnail = make_thumbnail(images[digest])
        if thumbnail is not None:
            made[digest] = thumbnail
    store.put_thumbnails(made)
    return len(made)
