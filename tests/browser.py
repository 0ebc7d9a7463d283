"""Helpers for the editor's browser tests: Debian's chromium driven by the PyPI playwright package.

Never `playwright install` (no browser downloads here): we launch the system chromium with the flags
that keep it off the network. Screenshots and measurements go to ``ARTIFACTS``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import free_port  # noqa: F401 - the editor tests take it from here

ARTIFACTS = Path(os.environ.get("REELGRAPH_TEST_ARTIFACTS",
                                Path(__file__).resolve().parent.parent / "out" / "test-artifacts")) / "editor"

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def chromium_path() -> str:
    for candidate in (os.environ.get("REELGRAPH_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("the editor's browser tests need Debian's chromium: apt-get install chromium "
                "(or set REELGRAPH_CHROMIUM to a Chromium binary); `make test` installs it")



def record(name: str, value, unit: str = "", note: str = "") -> None:
    """Append a measurement to the artifacts' metrics.json (read by people, never asserted on time)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "metrics.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = {"value": value, "unit": unit, "note": note, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    path.write_text(json.dumps(data, indent=2) + "\n")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
