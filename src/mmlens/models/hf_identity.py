"""Which weights an hf model is: a content hash of a local folder, or the resolved hub commit.

Part of the model's fingerprint, so that the response cache never mixes two models that share a name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmlens.core.errors import ConfigError
from mmlens.core.media import file_sha256

# Files of a model folder that decide its answers (weights, configs, tokenizer, chat template, code).
IDENTITY_SUFFIXES = frozenset(
    {".json", ".jinja", ".safetensors", ".bin", ".pt", ".pth", ".model", ".txt", ".py", ".tiktoken", ".gguf"}
)


def weights_identity(name: str, revision: str | None, gguf_file: str | None = None) -> dict[str, Any]:
    """What the weights are: a content hash for a local folder, the resolved commit for a hub id.

    With a GGUF file, a local folder's identity is that file's content hash and the folder's other
    files but its other ``.gguf`` files (one folder often holds several quantisations)."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        if gguf_file is not None and not (folder / gguf_file).is_file():
            raise ConfigError(f"hf model folder {name} has no GGUF file {gguf_file}")
        return {"folder_sha256": folder_content_hash(folder, gguf_file)}
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ConfigError(f"hf model folder {name} does not exist")
    return {"hub": name, "commit": resolve_hub_commit(name, revision, gguf_file or "config.json")}


def resolve_hub_commit(name: str, revision: str | None, file: str = "config.json") -> str:
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return revision
    from transformers.utils import cached_file

    try:
        config_path = cached_file(name, file, revision=revision)
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"hf model {name!r}: not a local folder, and its revision cannot be resolved on the Hugging "
            f"Face hub or in the local cache: {' '.join(str(error).split())}"
        ) from None
    commit = Path(config_path).parent.name if config_path else ""
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ConfigError(
            f"hf model {name!r}: cannot tell which commit of it is in the cache ({config_path})"
        )
    return commit


def folder_content_hash(folder: Path, gguf_file: str | None = None) -> str:
    """sha256 over the relative paths and contents of the files that decide the model's answers.

    File hashes are cached by (path, size, mtime) in ``$MMLENS_HOME/hf-file-hashes.json``, so a
    multi-gigabyte model is read once, not on every run.
    """
    cache_path = _hash_cache_path()
    cache = _read_hash_cache(cache_path)
    changed = False
    digest = hashlib.sha256()
    for path in sorted(_identity_files(folder)):
        if path.suffix == ".gguf" and gguf_file is not None and path != folder / gguf_file:
            continue  # another quantisation in the same folder
        stat = path.stat()
        key = str(path.resolve())
        entry = cache.get(key)
        if not entry or entry.get("size") != stat.st_size or entry.get("mtime_ns") != stat.st_mtime_ns:
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}
            cache[key] = entry
            changed = True
        digest.update(f"{path.relative_to(folder).as_posix()}\0{entry['sha256']}\n".encode())
    if changed:
        _write_hash_cache(cache_path, cache)
    return digest.hexdigest()


def _identity_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix in IDENTITY_SUFFIXES:
            yield path


def _hash_cache_path() -> Path:
    from mmlens.core.paths import default_home

    return default_home() / "hf-file-hashes.json"


def _read_hash_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_hash_cache(path: Path, cache: dict[str, dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(cache, sort_keys=True))
        temporary.replace(path)
    except OSError:
        pass  # the cache only saves time


ANSWER_LIBRARIES = ("torch", "transformers")


def library_versions() -> dict[str, str]:
    """The installed versions of torch and transformers (package metadata: nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str] = {}
    for name in ANSWER_LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
