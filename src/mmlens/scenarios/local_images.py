"""Finding the image files of a local copy of a benchmark published as questions plus image files."""

from __future__ import annotations

from pathlib import Path

from mmlens.core.media import AbsentImage, FileImage, ImageRef


class ImageNotFound(LookupError):
    """An image file a copy that holds images does not have (its sample is a bad sample)."""


class LocalImages:
    """Looks an image name up in candidate folders, once per name.

    Whether the copy holds images at all is known when an image folder was found (``has_images``);
    otherwise the first lookup decides it. In a questions-only copy every image is an AbsentImage
    placeholder (scoring needs no pixels; running a model is refused with ``hint``); in a copy with
    images a missing file raises ImageNotFound.
    """

    def __init__(
        self, roots: list[Path], has_images: bool, label_prefix: str, hint: str, searched: str | None = None
    ) -> None:
        self.roots = roots
        self.searched = searched or ", ".join(str(root) for root in roots)
        self.label_prefix = label_prefix
        self.hint = hint
        self._has_images: bool | None = True if has_images else None
        self._found: dict[str, Path | None] = {}

    def find(self, name: str) -> ImageRef:
        if name not in self._found:
            self._found[name] = next((root / name for root in self.roots if (root / name).is_file()), None)
        found = self._found[name]
        if self._has_images is None:
            self._has_images = found is not None
        if found is not None:
            return FileImage(found)
        if self._has_images:
            raise ImageNotFound(f"image file {name} not found (looked in {self.searched})")
        return AbsentImage(self.label_prefix + name, self.hint)
