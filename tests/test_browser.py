"""The notebooks in a real browser: JupyterLab served on loopback, the system Chromium driven by Playwright.

Each test opens a notebook as a student would, runs every cell, works one of its controls with the mouse, and
checks that the picture the page shows changed (the bytes behind the <img>, loaded and visible) and that the plain
image ``show()`` leaves below it followed. Then it saves the notebook and checks that the saved file keeps that
image (what a reopened notebook shows).

``make test-browser`` runs them (marked slow: under two minutes at smoke scale). They need Debian's ``chromium``
(``apt-get install chromium``; or ``WM_CHROMIUM=/path/to/chrome``) and the ``playwright`` Python package (in the dev
extra); Playwright's own browser download is never used. The scale is ``WM_SCALE`` (smoke unless set), so
``WM_SCALE=book make test-browser`` shows what a student sees on the shipped checkpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("WM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# what the machine's closed network needs: no background connections, no sandbox when run as root
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
RUN_TIMEOUT_S = float(os.environ.get("WM_BROWSER_TIMEOUT", "900"))  # one notebook, all cells
SHOTS = os.environ.get("WM_BROWSER_SHOTS")  # a folder: each explorer's screenshot after it was worked, to look at


def _needs():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install chromium`) or set "
                    "WM_CHROMIUM to a Chromium or Chrome binary")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing: `pip install -e '.[dev]'` installs it")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on loopback over a temporary copy of the notebooks (so nothing tracked is written)."""

    def __init__(self, folder: Path):
        self.folder, self.token, self.port = folder, "wm-browser-test", _free_port()
        settings = folder / "lab-settings"
        for plugin, values in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                               "docmanager-extension/plugin": {"autosave": False}}.items():
            path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {**os.environ, "WM_SCALE": os.environ.get("WM_SCALE", "smoke"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(folder / "lab-workspaces")}
        self.log = open(folder / "lab.log", "w")  # noqa: SIM115 (the server writes to it until close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={self.port}",
             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}", "--ServerApp.port_retries=0",
             f"--ServerApp.root_dir={folder / 'notebooks'}", "--LabApp.expose_app_in_browser=True",
             *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; its log: {folder / 'lab.log'}") from None
                time.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _needs()
    folder = tmp_path_factory.mktemp("lab")
    (folder / "notebooks").mkdir()
    for nb in REPO.glob("notebooks/0[1-6]_*.ipynb"):
        shutil.copy(nb, folder / "notebooks" / nb.name)
    server = Lab(folder)
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    yield page
    context.close()


# JupyterLab's own objects (exposed with --LabApp.expose_app_in_browser): run every cell, then report.
RUN_ALL = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  window.wmRun = {done: false};
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => { window.wmRun = {done: true, ok}; }, e => { window.wmRun = {done: true, ok: false, error: String(e)}; });
}"""
CELL_REPORT = """() => {
  const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
  const report = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    const outputs = [];
    for (let j = 0; j < cell.outputs.length; j++) {
      const o = cell.outputs.get(j).toJSON();
      outputs.push(o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : o.output_type === 'stream' &&
                   o.name === 'stderr' ? 'stderr: ' + String(o.text).slice(0, 300) : o.output_type);
    }
    report.push({index: i, count: cell.executionCount, outputs});
  }
  return report;
}"""


def open_and_run(page, lab: Lab, name: str) -> list[dict]:
    """Open ``name`` in JupyterLab, run all its cells, and return each code cell's execution count and outputs;
    fails on a cell that raised, one that never ran, a traceback in the page or a widget that cannot render."""
    # a workspace of its own, reset: JupyterLab would otherwise reopen the notebooks earlier tests left open
    page.goto(f"{lab.url}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={lab.token}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                           f"window.jupyterapp.shell.currentWidget.title.label === '{name}'", timeout=120_000)
    page.evaluate(RUN_ALL)
    page.wait_for_function("window.wmRun && window.wmRun.done", timeout=RUN_TIMEOUT_S * 1000, polling=1000)
    report = page.evaluate(CELL_REPORT)
    raised = [(c["index"], o) for c in report for o in c["outputs"] if ":" in o and not o.startswith("stderr")]
    assert not raised, f"{name}: cells raised {raised}"
    assert all(c["count"] for c in report), f"{name}: cells never ran: {[c['index'] for c in report if not c['count']]}"
    assert page.evaluate("window.wmRun.ok"), f"{name}: JupyterLab reported a failed run ({lab.folder / 'lab.log'})"
    assert page.get_by_text("Error displaying widget").count() == 0, f"{name}: a widget did not render"
    return report


# the bytes behind an <img>, whether its src is a data: URL (JupyterLab's plain images) or a blob: URL (widgets)
IMAGE_BYTES = """async img => {
  if (!img.complete || !img.naturalWidth) throw new Error('the image has not loaded');
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ''; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


def picture(locator) -> str:
    """What the image shows: its PNG bytes (base64), once it is on screen and loaded."""
    locator.scroll_into_view_if_needed()
    locator.wait_for(state="visible")
    return locator.evaluate(IMAGE_BYTES)


def wait_until_changed(locator, before: str, what: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = picture(locator)
        if now != before:
            return now
        time.sleep(0.25)
    raise AssertionError(f"{what} did not change within {timeout_s:.0f} s")


def drag(page, handle, dx: float) -> None:
    """Drag a slider's handle ``dx`` pixels with the mouse, as a hand would (several moves, button held)."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=12)
    page.mouse.up()


def cell_with(page, css: str):
    """The first notebook cell whose output holds a widget carrying ``css``."""
    return page.locator(".jp-CodeCell").filter(has=page.locator(f".{css}")).first


def saved_outputs(lab: Lab, name: str, marker: str, mime: str) -> list:
    """The saved file's outputs of ``mime`` in the cell whose source has ``marker`` (what a reopened notebook, or
    GitHub, shows)."""
    notebook = json.loads((lab.folder / "notebooks" / name).read_text())
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "code" and marker in "".join(c["source"]))
    return [o["data"][mime] for o in cell.get("outputs", []) if mime in o.get("data", {})]


def save(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function("!window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)


def check_snapshot_follows(page, lab: Lab, name: str, css: str, marker: str, shown) -> None:
    """The plain image below the widget shows what the widget's picture ``shown`` shows now, and the saved
    notebook keeps that image next to the widget."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        cell_with(page, css).screenshot(path=str(Path(SHOTS) / f"{css}.png"))
    now, snapshot = picture(shown), cell_with(page, css).locator(".jp-RenderedImage img").last
    deadline = time.monotonic() + 30
    while picture(snapshot) != now:
        assert time.monotonic() < deadline, f"{name}: the plain image below the widget did not follow it"
        time.sleep(0.25)
    save(page)
    kept = [png.replace("\n", "") for png in saved_outputs(lab, name, marker, "image/png")]
    assert kept and kept[-1] == now, f"{name}: the saved notebook does not keep the widget's last view"
    assert saved_outputs(lab, name, marker, "application/vnd.jupyter.widget-view+json"), \
        f"{name}: the saved notebook lost the widget itself"


def test_02_latent_explorer_slider_redraws_the_frame(page, lab):
    open_and_run(page, lab, "02_vae.ipynb")
    explorer = page.locator(".wm-latent-explorer")
    assert explorer.count() == 1, "02: the latent explorer is not on the page"
    decoded = explorer.locator("img.widget-image").nth(1)  # [0] is the real frame, [1] the decoded code
    before = picture(decoded)
    slider = explorer.locator(".widget-slider").first
    readout = slider.locator(".widget-readout").inner_text()
    drag(page, slider.locator(".noUi-handle"), 80)
    wait_until_changed(decoded, before, "02: the decoded frame")
    assert slider.locator(".widget-readout").inner_text() != readout, "02: the slider's value did not move"
    check_snapshot_follows(page, lab, "02_vae.ipynb", "wm-latent-explorer", "LatentExplorer", decoded)
    last_view = picture(decoded)
    # reopened with no kernel behind it, as a student finds it the next day: the plain image still shows that view
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    page.reload()
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                           "window.jupyterapp.shell.currentWidget.title.label === '02_vae.ipynb'", timeout=120_000)
    cell = page.locator(".jp-CodeCell").filter(has_text="widgets.LatentExplorer(")
    cell.scroll_into_view_if_needed()
    if SHOTS:
        cell.screenshot(path=str(Path(SHOTS) / "wm-latent-explorer-reopened.png"))
    assert picture(cell.locator(".jp-RenderedImage img").last) == last_view, "02: the reopened notebook lost the view"
    assert not page.errors, page.errors


def test_03_category_explorer_class_slider_redraws_the_frame_and_the_map(page, lab):
    open_and_run(page, lab, "03_gumbel_vae.ipynb")
    explorer = page.locator(".wm-category-explorer").first
    images = explorer.locator("img.widget-image")  # frame, decoded code, what changed
    decoded, changed = images.nth(1), images.nth(2)
    before, map_before = picture(decoded), picture(changed)
    status = explorer.locator(".widget-html").filter(has_text="variables changed")
    assert "0 of" in status.inner_text()
    slider = explorer.locator(".widget-slider").first  # the most influential variable
    drag(page, slider.locator(".noUi-handle"), 120)
    wait_until_changed(decoded, before, "03: the decoded frame")
    wait_until_changed(changed, map_before, "03: the map of what changed")
    assert "1 of" in status.inner_text(), status.inner_text()
    check_snapshot_follows(page, lab, "03_gumbel_vae.ipynb", "wm-category-explorer", "CategoryExplorer(model",
                           decoded)
    assert not page.errors, page.errors


def test_04_dream_driver_steps_the_dream(page, lab):
    open_and_run(page, lab, "04_mdnrnn.ipynb")
    driver = page.locator(".wm-dream-driver")
    assert driver.count() == 1, "04: the dream driver is not on the page"
    frame = driver.locator("img.widget-image").first
    status = driver.locator(".widget-html").filter(has_text="t = ")
    before = picture(frame)
    assert status.inner_text().startswith("t = 0")
    steer = driver.locator(".widget-slider").filter(has_text="steer")
    drag(page, steer.locator(".noUi-handle"), -25)  # steer left
    assert float(steer.locator(".widget-readout").inner_text().replace("\u2212", "-")) < 0  # a typographic minus
    driver.get_by_role("button", name="10 steps").click()
    frame_after = wait_until_changed(frame, before, "04: the dream frame after 10 steps")
    page.wait_for_function("() => document.querySelector('.wm-dream-driver').innerText.includes('t = 10')",
                           timeout=30_000)
    if driver.get_by_role("button", name="agent drives 10").count():  # the shipped agent (not at every scale)
        driver.get_by_role("button", name="agent drives 10").click()
        page.wait_for_function("() => document.querySelector('.wm-dream-driver').innerText.includes('t = 20')",
                               timeout=30_000)
        wait_until_changed(frame, frame_after, "04: the dream frame after the agent drove")
    check_snapshot_follows(page, lab, "04_mdnrnn.ipynb", "wm-dream-driver", "DreamDriver", frame)
    assert not page.errors, page.errors


VIDEOS = """async () => {
  const videos = [...document.querySelectorAll('.jp-OutputArea-output video')];
  const states = [];
  for (const v of videos) {
    v.muted = true;
    if (v.readyState < 2) await new Promise(r => { v.addEventListener('loadeddata', r, {once: true});
                                                  setTimeout(r, 10000); });
    states.push({ready: v.readyState, duration: v.duration, error: v.error ? v.error.code : null});
  }
  return states;
}"""


@pytest.mark.parametrize("name", ["01_rollouts.ipynb", "05_controller.ipynb", "06_figures.ipynb"])
def test_the_other_notebooks_run_and_their_videos_load(page, lab, name):
    """01, 05 and 06 have no control to work, but a student runs them too: every cell, no error, no broken
    widget (their progress bars are widgets), and every embedded video decodes in this Chromium."""
    open_and_run(page, lab, name)
    videos = page.evaluate(VIDEOS)
    assert videos or name.startswith("01"), f"{name}: no embedded video on the page"
    for i, video in enumerate(videos):
        assert video["error"] is None and video["ready"] >= 2 and video["duration"] > 0, f"{name}: video {i} {video}"
    assert not page.errors, page.errors
