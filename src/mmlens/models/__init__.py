"""Model backends, one protocol (``mmlens.models.base``).

The built-in backends are named in a lazy table in ``base.py`` (name -> module): a backend's module
is imported only when a run uses it, so ``mmlens list`` and runs on one backend pay for no other.
"""
