"""The store's import path since its first version: ``Store`` (over SQLite or PostgreSQL, see
store/database.py) and what goes with it; the SQLite backend itself is store/sqlite_backend.py."""

from __future__ import annotations

from mmlens.core.paths import default_home as default_home
from mmlens.core.paths import default_store_path as default_store_path
from mmlens.store.backend import StoreError as StoreError
from mmlens.store.database import DEFAULT_COMMIT_INTERVAL as DEFAULT_COMMIT_INTERVAL
from mmlens.store.database import RunRow as RunRow
from mmlens.store.database import Store as Store
from mmlens.store.schema import SCHEMA as SCHEMA
