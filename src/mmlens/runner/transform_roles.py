"""Role requests sent by transforms while the samples load (the ICL retrievers' embeddings).

Transforms run before the run's flows start, so the roles they ask (``Transform.roles()``) are
loaded on their first request, into the run's own dict of role models (``run_task`` then uses the
same models: nothing is loaded twice). Requests are keyed by the role model's fingerprint and
answered through the store like any other, so a rerun sends nothing; the counts join the run's
``provenance.requests.by_role``.
"""

from __future__ import annotations

from mmlens.core.errors import MmlensError
from mmlens.core.requests import Request, Response
from mmlens.models.base import Model
from mmlens.runner.execute import ExecutionStats, Responder
from mmlens.runner.roles import RoleChoice, load_roles
from mmlens.store.sqlite import Store


class TransformRoles:
    """``embed`` for ``TransformContext``: the run's roles, loaded on first use into ``models``."""

    def __init__(self, chosen: dict[str, RoleChoice], store: Store, models: dict[str, Model]) -> None:
        self.chosen = chosen
        self.store = store
        self.models = models  # the run's dict: filled here, used (and closed) by the run
        self.stats: dict[str, ExecutionStats] = {}

    def embed(self, requests: list[Request]) -> list[Response]:
        """The responses to ``requests`` (each for a role of the run), in order; cached ones come
        from the store."""
        unknown = sorted({r.role for r in requests} - set(self.chosen))
        if unknown:
            raise MmlensError(
                f"a transform sent requests for role {unknown[0]!r}, which this run has not got; the "
                "transform must name it in roles() so that the run asks for it"
            )
        if not self.models:
            self.models.update(load_roles(self.chosen))
        fingerprints = {name: model.fingerprint_key() for name, model in self.models.items()}
        keys = [request.key(fingerprints[request.role]) for request in requests]
        unique = dict(zip(keys, requests, strict=True))
        responder = Responder(self.models, self.store)
        answered = responder(unique)
        for role, stats in responder.stats.items():
            self.stats.setdefault(role, ExecutionStats()).add(stats)
        return [answered[key] for key in keys]

    def add_stats_to(self, responder: Responder) -> None:
        """Count this loading's requests in the run's per-role totals."""
        for role, stats in self.stats.items():
            if role in responder.stats:
                responder.stats[role].add(stats)
