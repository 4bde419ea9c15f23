"""Media references: images and videos known by a content hash, decoded only when a model needs them.

Requests are hashed with media replaced by ``digest``; that is what makes the response cache
independent of where an image came from and cheap to look up (no decoding on a cached rerun).
A data set's images are held as references, never as bytes for the whole run: a file by its path,
an image embedded in a table (parquet, arrow, TSV) by its row position (``StoredImage``), read
again whenever a model, the unreadable-image check or a thumbnail needs it.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmlens.core.errors import DataError

if TYPE_CHECKING:
    from PIL import Image as PILImage


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    return digest.hexdigest()


class ImageRef(ABC):
    """An image that can be hashed without decoding and decoded on demand."""

    @property
    @abstractmethod
    def digest(self) -> str:
        """A stable content hash (``sha256:<hex>`` or a namespaced generator key)."""

    @abstractmethod
    def encoded(self) -> bytes:
        """The image as an encoded file (PNG, JPEG, ...)."""

    def pil(self) -> PILImage.Image:
        """Decode to an RGB PIL image; an unreadable image raises DataError naming it."""
        from PIL import Image, UnidentifiedImageError

        try:
            image = Image.open(io.BytesIO(self.encoded()))
            image.load()
        except UnidentifiedImageError:
            raise DataError(f"unreadable image {self.describe()}: not a recognised image format") from None
        except (OSError, ValueError) as error:
            raise DataError(f"unreadable image {self.describe()}: {error}") from None
        return image.convert("RGB") if image.mode != "RGB" else image

    def unreadable_reason(self) -> str | None:
        """Why the image cannot be decoded, checked without decoding its pixels; None when it can."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(self.encoded())) as image:
                image.verify()
        except DataError as error:
            return str(error)
        except UnidentifiedImageError:
            return f"unreadable image {self.describe()}: not a recognised image format"
        except (OSError, ValueError, SyntaxError) as error:  # PIL reports some corrupt files as SyntaxError
            return f"unreadable image {self.describe()}: {error}"
        return None

    def mime_type(self) -> str:
        head = self.encoded()[:12]
        if head.startswith(b"\x89PNG"):
            return "image/png"
        if head.startswith(b"\xff\xd8"):
            return "image/jpeg"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return "image/webp"
        if head.startswith(b"GIF8"):
            return "image/gif"
        return "application/octet-stream"

    def describe(self) -> str:
        return self.digest[:23]

    def source(self) -> ImageSource | None:
        """Where the image can be read again by a later process (the report making its thumbnail),
        as JSON-able data; None for an image that exists only in this run (drawn, corrupted, held in
        memory). See ``mmlens.scenarios.image_sources``."""
        return None


# {"file": "/abs/path.jpg"} or {"table": {<how to open the data file>}, "row": N, "column": "image",
# "item": K or None}
ImageSource = dict[str, Any]


class BytesImage(ImageRef):
    """An image held as encoded bytes (a parquet cell, a base64 TSV column)."""

    def __init__(self, data: bytes, label: str | None = None) -> None:
        self._data = data
        self._digest: str | None = None
        self.label = label

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = "sha256:" + sha256_hex(self._data)
        return self._digest

    def encoded(self) -> bytes:
        return self._data

    def describe(self) -> str:
        return self.label or super().describe()


class StoredImage(ImageRef):
    """An image embedded in a data file, known by its digest and where to read it again.

    ``read`` returns the encoded image from its stable position in the data (for a parquet file:
    the file, row group, row and column); the bytes are hashed once while the data is read and then
    dropped, so a run's memory does not grow with the total size of its images. Each ``encoded()``
    reads the image again and checks it against the digest: a data file changed since the data was
    read is a DataError, never another image sent under the old image's key.
    """

    def __init__(
        self, digest: str, read: Callable[[], bytes], label: str, source: ImageSource | None = None
    ) -> None:
        self._digest = digest
        self._read = read
        self.label = label
        self._source = source

    @property
    def digest(self) -> str:
        return self._digest

    def source(self) -> ImageSource | None:
        return self._source

    def encoded(self) -> bytes:
        data = self._read()
        if "sha256:" + sha256_hex(data) != self._digest:
            raise DataError(f"image {self.label} changed since the data was read (its content hash differs)")
        return data

    def describe(self) -> str:
        return self.label


def file_problem(path: Path, what: str = "image file") -> str | None:
    """Why ``path`` cannot be read as a media file (missing, a folder, a device or pipe such as
    /dev/zero, unreadable), checked without opening it; None when it can."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{what} {path} does not exist"
    except OSError as error:
        return f"{what} {path}: cannot read it ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return f"{what} {path} is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{what} {path} is not a regular file (a device, pipe or socket)"
    if not os.access(path, os.R_OK):
        return f"{what} {path} is not readable (permission denied)"
    return None


class _FileBacked:
    """A media file on disk, known by the sha256 of its bytes (computed on first use)."""

    kind = "media file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            problem = file_problem(self.path, self.kind)
            if problem is not None:  # /dev/zero would be hashed forever, a fifo would block
                raise DataError(problem)
            self._digest = "sha256:" + file_sha256(self.path)
        return self._digest

    def describe(self) -> str:
        return str(self.path)


class FileImage(_FileBacked, ImageRef):
    """An image file on disk."""

    kind = "image file"

    def source(self) -> ImageSource | None:
        return {"file": str(self.path.absolute())}

    def encoded(self) -> bytes:
        problem = file_problem(self.path)
        if problem is not None:
            raise DataError(problem)
        try:
            return self.path.read_bytes()
        except OSError as error:
            raise DataError(f"cannot read image {self.path}: {error.strerror or error}") from None


class GeneratedImage(ImageRef):
    """A procedurally drawn image, identified by its generator's deterministic key.

    The key must change whenever the pixels could change (include a generator version).
    """

    def __init__(self, key: str, draw: Callable[[], PILImage.Image]) -> None:
        self.key = key
        self._draw = draw

    @property
    def digest(self) -> str:
        return "gen:" + self.key

    def pil(self) -> PILImage.Image:
        return self._draw()

    def unreadable_reason(self) -> str | None:
        return None  # drawn on demand, never corrupt

    def encoded(self) -> bytes:
        buffer = io.BytesIO()
        self._draw().save(buffer, format="PNG")
        return buffer.getvalue()

    def mime_type(self) -> str:
        return "image/png"


class PILImageRef(ImageRef):
    """An in-memory PIL image (hashed from its raw pixels)."""

    def __init__(self, image: PILImage.Image) -> None:
        self._image = image.convert("RGB") if image.mode != "RGB" else image
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        if self._digest is None:
            header = f"{self._image.size[0]}x{self._image.size[1]}:".encode()
            self._digest = "rgb:" + sha256_hex(header + self._image.tobytes())
        return self._digest

    def pil(self) -> PILImage.Image:
        return self._image

    def encoded(self) -> bytes:
        buffer = io.BytesIO()
        self._image.save(buffer, format="PNG")
        return buffer.getvalue()

    def mime_type(self) -> str:
        return "image/png"


class AbsentImage(ImageRef):
    """An image a text-only local copy refers to but does not contain.

    Scoring a predictions file needs no pixels, so such samples load; the digest is stable
    (``absent:<label>``), and only decoding it, which running a model does, raises DataError.
    """

    def __init__(self, label: str, hint: str) -> None:
        self.label = label
        self.hint = hint

    @property
    def digest(self) -> str:
        return "absent:" + self.label

    def encoded(self) -> bytes:
        raise DataError(f"image {self.label} is not in the local copy: {self.hint}")

    def describe(self) -> str:
        return self.label


class VideoRef(_FileBacked):
    """A video file. Which frames a request shows is the ``VideoPart``'s ``FrameSampling`` (in the
    request's content hash); frames are decoded only when the request is sent."""

    kind = "video file"

    def local_path(self) -> Path:
        """The file to decode; DataError naming it when it cannot be read."""
        problem = file_problem(self.path, self.kind)
        if problem is not None:
            raise DataError(problem)
        return self.path


class AbsentVideo(VideoRef):
    """A video a questions-only local copy refers to but does not contain: samples load and score
    (``mmlens score`` needs no pixels); decoding it, which running a model does, raises DataError."""

    def __init__(self, label: str, hint: str) -> None:
        super().__init__(label)
        self.label = label
        self.hint = hint

    @property
    def digest(self) -> str:
        return "absent:" + self.label

    def local_path(self) -> Path:
        raise DataError(f"video {self.label} is not in the local copy: {self.hint}")

    def describe(self) -> str:
        return self.label
