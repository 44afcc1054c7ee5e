"""The dashboard in a real headless Chromium (Debian's package), driven over the DevTools
protocol: it loads with data, the map and charts are drawn (checked on screenshots),
and the language switches between Indonesian and English."""

import asyncio
import base64
import itertools
import json
import shutil
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from pantau.localstack.testing import wait_for
from pantau.reporting import testing as reporting_events
from pantau.shared import testing as shared_events
from pantau.shared.auth import Role
from pantau.shared.events import AlertStatus, Category, Severity

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)"
    ),
]


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await asyncio.wait_for(self._socket.recv(), timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[DevTools]:
    profile = tmp_path / "profile"
    process = await asyncio.create_subprocess_exec(
        *[
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1900",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def devtools_port() -> int | None:
            port_file = profile / "DevToolsActivePort"
            if process.returncode is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            if port_file.exists() and port_file.read_text().strip():
                return int(port_file.read_text().splitlines()[0])
            return None

        port = await wait_for(devtools_port, timeout=60)
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield DevTools(socket)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def decode_png(data: bytes) -> tuple[int, int, list[bytes], int]:
    """(width, height, unfiltered rows, bytes per pixel) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += length + 12
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), "only 8-bit RGB/RGBA"
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride, rows, previous = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, up_left = previous[x], previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def pixels_near(png: bytes, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixels of a PNG are within ``tolerance`` of colour ``rgb``."""
    width, _height, rows, bpp = decode_png(png)
    count = 0
    for row in rows:
        for x in range(0, width * bpp, bpp):
            if all(abs(row[x + i] - rgb[i]) <= tolerance for i in range(3)):
                count += 1
    return count


async def element_screenshot(page: DevTools, selector: str) -> bytes:
    box = await page.evaluate(
        f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
        " return {x: r.x, y: r.y + window.scrollY, width: r.width, height: r.height}; })()"
    )
    shot = await page.call(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={**box, "scale": 1},
    )
    return base64.b64decode(shot["data"])


async def test_dashboard_renders_map_and_charts_with_data_in_both_languages(
    own_service: Any, token: Any, browser: DevTools, tmp_path: Path
) -> None:
    # Its own service and database: the chart scales must depend on these events only.
    service, publisher = own_service
    now = datetime.now(UTC)
    plan = [
        ("32.01.01", Category.KEAMANAN, Severity.CRITICAL),
        ("32.01.02", Category.POLITIK_UANG, Severity.HIGH),
        ("35.15.01", Category.BENCANA_ALAM, Severity.HIGH),
        ("73.71.01", Category.LOGISTIK, Severity.MEDIUM),
    ]
    events: list[Any] = []
    for n, (region, category, severity) in enumerate(plan):
        submitted = shared_events.submitted(region=region, occurred_at=now - timedelta(hours=n + 1))
        events += [
            submitted,
            shared_events.classified(submitted, category=category, severity=severity),
            reporting_events.alert(submitted.data.report_id, status=AlertStatus.ACKNOWLEDGED),
        ]
    await publisher.publish(*events)
    ids = {e.subject for e in events}

    async def stored() -> bool:
        docs = [await service.app.state.store.get(rid) for rid in ids]
        return all(d and d.get("classification") and d["alerts"] for d in docs)

    await wait_for(stored, timeout=30)

    url = f"{service.base_url}/dashboard#token={token(Role.OPERATOR)}&lang=id"
    await browser.call("Page.enable")
    await browser.call("Page.navigate", url=url)

    async def ready() -> bool:
        return await browser.evaluate("document.body && document.body.dataset.state") == "ready"

    async def page_state() -> str:
        return str(
            await browser.evaluate(
                "document.body.dataset.state + ' ' + document.getElementById('error').textContent"
            )
        )

    try:
        await wait_for(ready, timeout=30, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"dashboard not ready: {await page_state()}") from exc
    assert await browser.evaluate("document.querySelector('h1').textContent") == (
        "Dasbor Insiden Pemilu"
    )
    assert int(await browser.evaluate("document.getElementById('total-all').textContent")) >= 4
    hot = await browser.evaluate(
        "[...document.querySelectorAll('#map path')].filter(p => +p.dataset.count > 0)"
        ".map(p => p.dataset.code)"
    )
    assert {"32", "35", "73"} <= set(hot)
    bars = await browser.evaluate("document.querySelectorAll('#time-chart rect.bar').length")
    assert bars >= 3
    latest = await browser.evaluate("document.querySelector('#latest tbody').innerText")
    assert "Keamanan" in latest and "Kritis" in latest and "diterima" in latest
    # The token left the address bar (it came in the fragment, never sent to a server).
    assert "token" not in await browser.evaluate("window.location.href")

    # Screenshots: the map shows heat colours, the charts show category/severity colours.
    full = await browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    (tmp_path / "dashboard.png").write_bytes(base64.b64decode(full["data"]))
    map_png = await element_screenshot(browser, "#map")
    (empty_land,) = [(0xF1, 0xF5, 0xF9)]
    assert pixels_near(map_png, empty_land) > 1000, "the provinces without incidents are drawn"
    heat_fill = await browser.evaluate(
        "getComputedStyle(document.querySelector('#map path[data-code=\"32\"]')).fill"
    )
    heat_rgb = tuple(int(v) for v in heat_fill[4:-1].split(","))
    assert pixels_near(map_png, heat_rgb) > 200, "Jawa Barat is coloured by its incidents"
    chart_png = await element_screenshot(browser, "#time-chart")
    assert pixels_near(chart_png, (0xB9, 0x1C, 0x1C)) > 20, "the keamanan bar is drawn"
    severity_png = await element_screenshot(browser, "#severity-chart")
    assert pixels_near(severity_png, (0xEA, 0x58, 0x0C)) > 200, "the high-severity bar is drawn"

    # English on demand.
    await browser.evaluate("document.getElementById('lang').click()")

    async def english() -> bool:
        title = await browser.evaluate("document.querySelector('h1').textContent")
        return title == "Election Incident Dashboard"

    await wait_for(english, timeout=10)
    await wait_for(ready, timeout=30, interval=0.2)

    async def english_rows() -> bool:
        text = await browser.evaluate("document.querySelector('#latest tbody').innerText")
        return "Security" in text and "acknowledged" in text

    await wait_for(english_rows, timeout=10)
