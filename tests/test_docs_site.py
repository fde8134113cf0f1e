"""`make docs`: dbt's documentation site, built offline from a copy of the warehouse, opens in a real browser
without any network request and shows the marts, their descriptions and the lineage graph."""

from pathlib import Path

import pytest

from pipeline.docs_site import build
from tests.browser import CHROMIUM, CHROMIUM_ARGS


def test_docs_site_offline_with_lineage(sample_run, tmp_path):
    before = sample_run.warehouse.stat().st_mtime_ns
    site = build(sample_run.warehouse, tmp_path / "docs")
    assert sample_run.warehouse.stat().st_mtime_ns == before  # built from a copy: the warehouse is untouched
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    url = site.resolve().as_uri()
    network: list[str] = []

    def route(request_route):
        if request_route.request.url.startswith(("http:", "https:", "ws:", "wss:")):
            network.append(request_route.request.url)
            request_route.abort()
        else:
            request_route.continue_()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", route)
            page = context.new_page()
            page.goto(url + "#!/model/model.vrr.vrr_uptake")
            page.get_by_text("VRR take-up by quarter, force and victim cohort", exact=False).first.wait_for(
                timeout=60_000
            )
            page.locator('[title="View Lineage Graph"]').first.click()
            page.get_by_text("Lineage Graph").first.wait_for(timeout=60_000)
            page.wait_for_timeout(2000)
            assert page.locator("canvas").count() > 0
            page.screenshot(path=str(tmp_path / "lineage.png"))
            page.goto(url + "#!/model/model.vrr.vrr_uptake_rolling")
            page.get_by_text("window_start").first.wait_for(timeout=60_000)  # a column of the mart, listed
        finally:
            browser.close()
    assert network == []
    assert Path(tmp_path / "lineage.png").stat().st_size > 10_000
