"""Run tests/node/scenario.js with the real Strophe.js: in node (WebSocket) or headless Chromium (BOSH)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def ensure_node_modules() -> None:
    if not (NODE_DIR / "node_modules" / "strophe.js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300)


async def run_in_node(options: dict) -> dict:
    ensure_node_modules()
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "strophe_ws.mjs"), json.dumps(options),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, f"node printed no result: {out.decode()[-2000:]} {err.decode()[-2000:]}"
    return json.loads(lines[-1])


async def run_in_chromium(options: dict) -> dict:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only these tests need it

    ensure_node_modules()
    strophe = NODE_DIR / "node_modules" / "strophe.js" / "dist" / "strophe.umd.min.js"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                          args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.add_script_tag(path=str(strophe))
            await page.add_script_tag(path=str(NODE_DIR / "scenario.js"))
            return await page.evaluate(
                "async (opts) => { try { return await xmppScenario(globalThis.Strophe, opts.url, opts); }"
                " catch (e) { return { error: String(e) }; } }",
                options,
            )
        finally:
            await browser.close()
