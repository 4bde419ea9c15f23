"""Small JPEG thumbnails of every image a run used, saved in the store for the HTML report.

They are made off the critical path: a background thread (``ThumbnailMaker``) thumbnails the run's
images while the requests are out (decoding and resizing release the GIL, so it runs beside the
event loop), with its own store connection, committing every ``BATCH`` thumbnails; the run waits
only for what is left when the last response is in. Each thumbnail is decoded at reduced scale
(``Image.draft``: JPEGs decode at 1/2 to 1/8 size) and shrunk with ``reduce`` before the final
resample, so a megapixel photo costs about as much as a small one. The maker holds image
references, never their bytes: each image is read, thumbnailed and dropped.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterable

from mmlens.core.errors import MmlensError
from mmlens.core.media import GeneratedImage, ImageRef, PILImageRef
from mmlens.core.sample import Sample
from mmlens.store.sqlite import Store

THUMBNAIL_SIDE = 160
BATCH = 256


def make_thumbnail(image: ImageRef, side: int = THUMBNAIL_SIDE) -> bytes | None:
    """A JPEG at most ``side`` pixels wide and high; None when the image cannot be decoded."""
    from PIL import Image

    try:
        if isinstance(image, GeneratedImage | PILImageRef):
            picture = image.pil().copy()
        else:
            picture = Image.open(io.BytesIO(image.encoded()))
            width, height = picture.size
            scale = min(side / width, side / height, 1.0)
            # JPEG: decode at the smallest scale (1/2 ... 1/8) still at least the thumbnail's size
            picture.draft("RGB", (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        if picture.mode not in ("RGB", "L"):  # palette, alpha, CMYK, 16-bit: JPEG takes RGB or L
            picture = picture.convert("RGB")
        picture.thumbnail((side, side), reducing_gap=2.0)  # reduce() by whole factors, then resample
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=80)
    except (MmlensError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None  # an unreadable image has no thumbnail (its sample is a bad sample)
    return buffer.getvalue()


def distinct_images(samples: Iterable[Sample]) -> dict[str, ImageRef]:
    images: dict[str, ImageRef] = {}
    for sample in samples:
        for image in sample.images:
            images.setdefault(image.digest, image)
    return images


def save_thumbnails(samples: list[Sample], store: Store) -> int:
    """Thumbnail the images the store does not have yet, here and now; returns how many were made."""
    images = distinct_images(samples)
    missing = store.missing_thumbnails(images)
    return save_thumbnails_of([image for digest, image in images.items() if digest in missing], store)


def save_thumbnails_of(todo: list[ImageRef], store: Store, stop: threading.Event | None = None) -> int:
    """Thumbnail ``todo`` in order, committing every BATCH; ``stop`` ends it early."""
    made = 0
    batch: dict[str, bytes] = {}
    for image in todo:
        if stop is not None and stop.is_set():
            break
        thumbnail = make_thumbnail(image)
        if thumbnail is not None:
            batch[image.digest] = thumbnail
        if len(batch) >= BATCH:
            store.put_thumbnails(batch)
            made, batch = made + len(batch), {}
    store.put_thumbnails(batch)
    return made + len(batch)


class ThumbnailMaker:
    """Thumbnails ``samples``' images in a background thread while the run's requests are out.

    ``start()`` returns at once; ``finish()`` waits for the rest and returns how many were made;
    ``cancel()`` stops it (an interrupted or failed run); a thumbnail already committed stays.
    """

    def __init__(self, samples: list[Sample], store: Store) -> None:
        images = distinct_images(samples)
        missing = store.missing_thumbnails(images)
        self._todo = [image for digest, image in images.items() if digest in missing]
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="mmlens-thumbnails", daemon=True)
        self._made = 0
        self._error: BaseException | None = None

    def start(self) -> ThumbnailMaker:
        if self._todo and str(self._store.path) != ":memory:":  # a memory store has one connection
            self._thread.start()
        return self

    def _work(self) -> None:
        store: Store | None = None
        try:
            store = Store(self._store.path)
            self._made = save_thumbnails_of(self._todo, store, self._stop)
        except BaseException as error:  # noqa: BLE001 - reported by finish(), in the run's thread
            self._error = error
        finally:
            self._todo = []
            if store is not None:
                store.close()

    def finish(self) -> int:
        if self._thread.ident is None:  # never started: whatever there is to do is done here
            self._made = save_thumbnails_of(self._todo, self._store)
            self._todo = []
        else:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._made

    def cancel(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
