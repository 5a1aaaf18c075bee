"""Screenshots of a comparison report in headless Chromium (for docs/figures).

    python3 scripts/screenshot_report.py REPORT_DIR OUT_PREFIX

writes OUT_PREFIX-top.png (the verdict, data and estimates) and OUT_PREFIX-figures.png
(the first figures), each 1200 pixels wide. Needs Playwright and a Chromium (see
scripts/install-system-deps.sh)."""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright


def main(report: str, prefix: str) -> None:
    page_path = Path(report).resolve() / "index.html"
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1500})
        page.goto(page_path.as_uri())
        page.screenshot(path=f"{prefix}-top.png")
        first = page.locator("figure").first
        first.scroll_into_view_if_needed()
        page.screenshot(path=f"{prefix}-figures.png", clip={"x": 0, "y": first.bounding_box()["y"] - 60,
                                                             "width": 1200, "height": 1500})
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
