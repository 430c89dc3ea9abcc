"""What a selection accepts: the checks on its query, candidates and seed, before any work."""

from __future__ import annotations

from collections.abc import Sequence

from rrm_select.conversation import unicode_error
from rrm_select.errors import InvalidArgumentError


def check_seed(seed: object) -> None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise InvalidArgumentError(f"seed must be a non-negative integer or None, got {seed!r}")


def check_text(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a str, got {type(value).__name__}")
    if (error := unicode_error(value)) is not None:
        raise InvalidArgumentError(
            f"{name} is not valid Unicode text: {error.reason} at position {error.start}"
        ) from error


def check_input(query: object, candidates: object, where: str = "") -> None:
    check_text(query, f"query{where}")
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise InvalidArgumentError(f"candidates{where} must be a sequence of strings, got {type(candidates).__name__}")
    if not candidates:
        raise InvalidArgumentError(f"candidates{where} is empty: need at least one candidate to select from")
    for i, text in enumerate(candidates):
        check_text(text, f"candidates{where}[{i}]")
