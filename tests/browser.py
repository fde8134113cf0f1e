"""A page in a real browser: Debian's chromium driven by Playwright (no browser download), axe-core inside it.

`check_page` opens a local HTML file, records console errors and every request other than the page itself
(none is let through), takes screenshots of the page and of each chart, and runs axe-core's WCAG 2.1 A and
AA rules.
"""

import struct
import zlib
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHARTS = "svg[role=img]"
# A drawn chart has text, axes and marks in several colours; a blank or failed one has one or two.
MIN_COLOURS = 8
MIN_INKED = 0.01
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}


def check_page(html_path: Path, screenshot_dir: Path) -> dict:
    """Open `html_path` in chromium and report what a reader's browser would do with it.

    Returns console_errors (text), requests (URLs other than the page; all are refused), screenshots (paths),
    charts (label, screenshot, distinct colours, share of non-white pixels, blank), overflows_narrow_screen
    (the page scrolls sideways on a 375 px wide screen) and violations (axe-core results of WCAG 2.1 A/AA rules
    on a desktop and a phone screen: screen, id, impact, help and the failing elements' HTML).
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs Debian's chromium)")
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    html_path = Path(html_path).resolve()
    screenshot_dir = Path(screenshot_dir)
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    url = html_path.as_uri()
    console_errors: list[str] = []
    requests: list[str] = []

    def route(request_route):
        if request_route.request.url == url:
            request_route.continue_()
        else:
            if request_route.request.url not in requests:
                requests.append(request_route.request.url)
            request_route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, reduced_motion="reduce")
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error: console_errors.append(str(error)))
            page.on("request", lambda r: None if r.url == url or r.url in requests else requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            full = screenshot_dir / "page.png"
            page.screenshot(path=str(full), full_page=True)
            screenshots = [full]
            charts = []
            for i, svg in enumerate(page.locator(CHARTS).all(), start=1):
                shot = screenshot_dir / f"chart-{i}.png"
                svg.screenshot(path=str(shot))
                screenshots.append(shot)
                colours, inked = png_ink(shot.read_bytes())
                label = svg.evaluate("e => e.querySelector(':scope > title')?.textContent ?? ''")
                charts.append(
                    {
                        "label": label,
                        "screenshot": shot,
                        "colours": colours,
                        "inked": inked,
                        "blank": colours < MIN_COLOURS or inked < MIN_INKED,
                    }
                )

            violations = _axe(Axe(), page, "desktop")
            page.set_viewport_size(PHONE)
            narrow = screenshot_dir / "page-narrow.png"
            page.screenshot(path=str(narrow), full_page=True)
            screenshots.append(narrow)
            overflows = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            violations += _axe(Axe(), page, "phone")
            context.close()
        finally:
            browser.close()
    return {
        "console_errors": console_errors,
        "requests": requests,
        "screenshots": screenshots,
        "charts": charts,
        "overflows_narrow_screen": overflows,
        "violations": violations,
    }


def _axe(axe, page, screen: str) -> list[dict]:
    """axe-core's WCAG 2.1 A and AA rules on the page as it is laid out now."""
    result = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]})
    return [
        {
            "screen": screen,
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["html"] for n in v["nodes"]],
        }
        for v in result.response["violations"]
    ]


def png_ink(data: bytes) -> tuple[int, float]:
    """Distinct colours in an 8-bit RGB or RGBA PNG (as chromium writes them), and the share of pixels
    that are not white."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = header
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(b"".join(chunks))
    previous = bytearray(stride)
    colours, inked = set(), 0
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        for i in range(0, stride, channels):
            pixel = bytes(line[i : i + 3])
            colours.add(pixel)
            inked += pixel != b"\xff\xff\xff"
        previous = line
    return len(colours), inked / (width * height)
