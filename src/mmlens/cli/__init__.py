"""The command line (thin: parses options, calls mmlens.api, prints). User errors never show a traceback.

One module per command; each registers itself with ``@command`` (mmlens.cli.registry) and
``build_parser`` (mmlens.cli.parser) gives every registered command its subparser. Other packages
plug in the same way (mmlens.report.commands): list the module in ``COMMAND_MODULES``.
"""

from mmlens.cli.app import main
from mmlens.cli.registry import COMMANDS, command

__all__ = ["COMMANDS", "command", "main"]
