"""The ``skypewatch`` command line: one module per subcommand, argument types and output
paths checked before any work starts."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
