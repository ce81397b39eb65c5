"""The lookup page's assets: colour contrast (WCAG AA), local-only references, the Chromium installer's refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tests.browser as browser
from certlife.services.api.page import STATIC, TEMPLATES


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_ratio_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") < 4.5  # a grey that fails AA


def test_text_colours_meet_wcag_aa() -> None:
    css = (STATIC / "page.css").read_text()
    badges = re.findall(r"\.badge(?:-\w+)? \{[^}]*background: (#[0-9a-f]{6})", css)
    assert len(badges) == 6
    for background in badges:  # white bold text on every status badge
        assert contrast(background, "#ffffff") >= 4.5, background
    for name in ("fg", "muted", "link"):
        colour = re.search(rf"--{name}: (#[0-9a-f]{{6}})", css)
        assert colour is not None and contrast(colour[1], "#ffffff") >= 4.5, name


def test_assets_are_local() -> None:
    files = [*TEMPLATES.glob("*.html"), *STATIC.glob("*")]
    assert files
    for path in files:
        text = path.read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path
        assert "@import" not in text and "url(http" not in text, path


def test_missing_chromium_without_apt_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    why = browser.ensure_chromium()
    assert "apt-get is not available" in why and "\n" not in why


def test_missing_chromium_without_root_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)
    why = browser.ensure_chromium()
    assert why == f"{tmp_path / 'chromium'} is missing: run 'apt-get install -y chromium' as root"


def test_present_chromium_needs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "chromium").write_text("")
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    assert browser.ensure_chromium() == ""
