"""Push finished runs to a dataset repository on the Hugging Face Hub: ``runs/<run id>/results.json``
and ``runs/<run id>/samples.jsonl``, one commit. The endpoint is ``HF_ENDPOINT`` (default the
Hub), the token ``HF_TOKEN`` or the one ``hf auth login`` saved."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from mmlens.core.errors import MmlensError


@dataclass
class HubRun:
    run_id: str
    results: dict[str, Any]
    records: list[dict[str, Any]]


def push_runs(repo_id: str, runs: list[HubRun], private: bool = False, revision: str | None = None) -> str:
    """Create the dataset repo if needed and commit every run's files; returns the commit URL."""
    try:
        from huggingface_hub import CommitOperationAdd, HfApi
        from huggingface_hub.errors import HfHubHTTPError
    except ModuleNotFoundError:
        raise MmlensError("--hub needs huggingface_hub: pip install 'mmlens[trackers]'") from None
    if not runs:
        raise MmlensError("no runs to push")
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=os.environ.get("HF_TOKEN") or None)
    operations = []
    for run in runs:
        folder = f"runs/{run.run_id}"
        results = (json.dumps(run.results, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        samples = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.records).encode("utf-8")
        operations.append(CommitOperationAdd(f"{folder}/results.json", results))
        operations.append(CommitOperationAdd(f"{folder}/samples.jsonl", samples))
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=f"mmlens: {len(runs)} run(s)",
            repo_type="dataset",
            revision=revision,
        )
    except HfHubHTTPError as error:
        raise MmlensError(f"--hub {repo_id}: {str(error).splitlines()[0]}") from None
    except Exception as error:  # no token, no connection (the client's HTTP library has its own errors)
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MmlensError(f"--hub {repo_id}: {first}") from None
    return str(commit.commit_url)
