"""Check the latent explorers (vaelib.eval.explore) in a real browser: JupyterLab and headless Chromium.

    python3 -m venv /tmp/selvenv && uv pip install --python /tmp/selvenv/bin/python selenium
    apt-get install chromium chromium-driver
    /tmp/selvenv/bin/python scripts/check_widgets_in_browser.py      # screenshots in /tmp/widget_shots/

This is a manual check, not a test: it needs Debian's chromium and chromedriver and Selenium, which
the project's environment does not carry. It writes a throwaway notebook to a temporary folder that
builds each of the three explorers on tiny untrained models (nothing from the cache, nothing
trained), then

1. executes it once without a frontend (`jupyter nbconvert --execute`), as nbval and `make run` do:
   every cell must finish, since nothing may wait for input;
2. starts the project's JupyterLab (.venv) headless on a free port with a token, opens the notebook
   in Chromium, runs all cells, drags a slider of the latent-plane and of the traversal explorer and
   clicks the picker's second button, and reports whether each widget's image changed.

Screenshots of each explorer before and after go to /tmp/widget_shots/. Exit status 0 when every
widget rendered and redrew.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
SHOTS = Path("/tmp/widget_shots")

CELLS = [
    """\
import torch
import matplotlib.pyplot as plt
from vaelib.models import ModelConfig, build_model
from vaelib.metrics import latent_means
from vaelib.eval.explore import (latent_plane_explorer, latent_plane_figure, model_picker, panels_figure,
                                 traversal_explorer, traversal_figure)

torch.set_num_threads(1)
def tiny(latent_dim, seed):
    torch.manual_seed(seed)
    return build_model(ModelConfig(arch="fc", hidden=(16,), latent_dim=latent_dim)).eval()
x = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0))
labels = torch.arange(300) % 10
plane = tiny(2, 0)
codes = latent_means(plane, x)
beta = tiny(6, 1)
sigma_models = {f"σ = {s}": tiny(3, i) for i, s in enumerate((0.03, 0.3, 1.0))}""",
    """\
latent_plane_figure(plane, codes, labels, n=5)
plt.show()
latent_plane_explorer(plane, codes, labels)""",
    """\
with torch.no_grad():
    z0 = beta.encode(x[:1])[0][0]
traversal_figure(beta, z0, (0, 1))
plt.show()
traversal_explorer(beta, z0, [0, 1, 2, 3])""",
    """\
panels_figure(sigma_models, x[:8])
plt.show()
model_picker(sigma_models, x[:8])""",
]


def write_notebook(folder: Path) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": source} for source in CELLS]
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}}
    path = folder / "explorers.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_headless(nb: Path, env: dict[str, str]) -> bool:
    """Execute the notebook with no frontend, as nbval and `make run` do."""
    t0 = time.perf_counter()
    result = subprocess.run([str(VENV_BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                             "--output", "executed.ipynb", "--ExecutePreprocessor.timeout=120", str(nb)],
                            env=env, capture_output=True, text=True)
    ok = result.returncode == 0
    print(f"[headless] nbconvert --execute: {'every cell ran' if ok else 'FAILED'} "
          f"in {time.perf_counter() - t0:.0f} s" + ("" if ok else f"\n{result.stderr[-2000:]}"))
    if ok:
        executed = json.loads((nb.parent / "executed.ipynb").read_text())
        for i, cell in enumerate(executed["cells"][1:], 1):
            kinds = [sorted(o.get("data", {})) for o in cell["outputs"]]
            print(f"[headless] cell {i} outputs: {kinds}")
    return ok


def start_lab(folder: Path, port: int, token: str, env: dict[str, str]) -> subprocess.Popen:
    lab = subprocess.Popen(
        ["nice", "-n", "19", str(VENV_BIN / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.allow_root=True"],
        env=env, stdout=(folder / "lab.log").open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url, timeout=2)
            return lab
        except OSError:
            time.sleep(0.5)
    lab.terminate()
    raise RuntimeError(f"JupyterLab did not start; see {folder / 'lab.log'}")


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def widget_image(cell) -> str:
    """The src of the image in the cell's Output widget ('' while there is none)."""
    imgs = cell.find_elements(By.CSS_SELECTOR, ".widget-output img")
    return imgs[0].get_attribute("src") if imgs else ""


def changed(driver, cell, before: str, timeout: float = 60) -> bool:
    try:
        WebDriverWait(driver, timeout).until(lambda _: widget_image(cell) not in ("", before))
        return True
    except Exception:  # noqa: BLE001  (a time-out: the image never changed)
        return False


def check_in_browser(port: int, token: str) -> bool:
    driver = browser()
    ok = True
    try:
        driver.get(f"http://127.0.0.1:{port}/lab/tree/explorers.ipynb?token={token}")
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.execute_script(
            "return !!(window.jupyterapp && document.querySelector('.jp-NotebookPanel .jp-CodeCell'))"))
        wait.until(lambda d: d.execute_script(  # the notebook's kernel started and idle
            "const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;"
            " return kernel?.status === 'idle'"))
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        cells = driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell")
        WebDriverWait(driver, 240).until(lambda _: all(widget_image(c) for c in cells[1:]))
        print("[browser] ran all cells; every explorer shows an image in its Output widget")
        names = ["latent_plane", "traversal", "picker"]
        for name, cell in zip(names, cells[1:]):
            static = (len(cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output > img"))
                      - len(cell.find_elements(By.CSS_SELECTOR, ".widget-output img")))
            print(f"[browser] {name}: static figures {static}, sliders "
                  f"{len(cell.find_elements(By.CSS_SELECTOR, '.widget-slider'))}, toggle buttons "
                  f"{len(cell.find_elements(By.CSS_SELECTOR, '.widget-toggle-button'))}")
            driver.execute_script("arguments[0].scrollIntoView()", cell)
            cell.screenshot(str(SHOTS / f"{name}_before.png"))

        for name, cell, slider in (("latent_plane", cells[1], 1), ("traversal", cells[2], 0)):
            readout = cell.find_elements(By.CSS_SELECTOR, ".widget-slider .widget-readout")[slider]
            handle = cell.find_elements(By.CSS_SELECTOR, ".widget-slider .noUi-handle")[slider]
            before, value = widget_image(cell), readout.text
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
            ActionChains(driver).click_and_hold(handle).move_by_offset(60, 0).release().perform()
            redrawn = changed(driver, cell, before)
            print(f"[browser] {name}: dragged slider {slider} from {value} to {readout.text}; "
                  f"Output image {'changed' if redrawn else 'DID NOT change'}")
            ok &= redrawn and readout.text != value
            cell.screenshot(str(SHOTS / f"{name}_after.png"))

        cell = cells[3]
        before = widget_image(cell)
        button = cell.find_elements(By.CSS_SELECTOR, ".widget-toggle-button")[1]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        redrawn = changed(driver, cell, before)
        print(f"[browser] picker: clicked {button.text!r}; Output image {'changed' if redrawn else 'DID NOT change'}")
        ok &= redrawn
        cell.screenshot(str(SHOTS / "picker_after.png"))
        errors = [e["message"] for e in driver.get_log("browser")]
        print(f"[browser] console errors: {len(errors)}" + "".join(f"\n    {e[:200]}" for e in errors))
    finally:
        driver.quit()
    return ok


def main() -> int:
    SHOTS.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="widget_check_"))
    env = {**os.environ, "OMP_NUM_THREADS": "1",  # JupyterLab's files in the throwaway folder, not ~/.jupyter
           "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(folder / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings")}
    nb = write_notebook(folder)
    ok = run_headless(nb, env)
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(folder, port, token, env)
    try:
        ok &= check_in_browser(port, token)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    print(f"screenshots: {sorted(p.name for p in SHOTS.glob('*.png'))} in {SHOTS}; notebook and log in {folder}")
    print("OK: every explorer rendered and redrew" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
