"""Subcommands of the validate stage (registered into ``amorphous-ml``)."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this stage's subcommands to the ``amorphous-ml`` parser."""
