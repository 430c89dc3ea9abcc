"""Pages seen as a person sees them: Debian's Chromium, headless, driven by playwright.

The browser is not skipped when missing: the setup script installs it, and a run without it
fails. Screenshots go to ``$RRM_SELECT_SCREENSHOTS`` (default ``artifacts/screenshots``), kept
as the run's artifacts; the README's pictures are made by pointing it at ``docs/images``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import html5lib

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root and on a closed network (see the design notes): no sandbox, and nothing that phones home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
SCREENSHOTS = Path(os.environ.get("RRM_SELECT_SCREENSHOTS", Path(__file__).parent.parent / "artifacts" / "screenshots"))


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium with a fresh profile (a playwright `Browser`)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run scripts/setup.sh (it installs Debian's chromium)")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1200, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


def parse_strictly(page: str) -> None:
    """Parse `page` with html5lib in strict mode: any HTML5 parse error raises."""
    html5lib.HTMLParser(strict=True).parse(page)


def screenshot_path(name: str) -> Path:
    """Where the screenshot `name` (e.g. ``"selection.png"``) is kept."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name
