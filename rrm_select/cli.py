"""The `rrm-select` command, kept at its old import path (the entry point and scripts name it)."""

from rrm_select.filter.cli import main

__all__ = ["main"]
