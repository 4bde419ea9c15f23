"""Model backends. Importing this package registers the built-in ones (no heavy imports)."""

from mmlens.models import (
    constant,  # noqa: F401
    hf,  # noqa: F401
    openai,  # noqa: F401
    reference,  # noqa: F401
)
