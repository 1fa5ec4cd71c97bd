"""Check the built book in a real browser: every page rendered in headless Chromium, screenshotted.

    apt-get install chromium chromium-driver          # Debian's browser and its driver
    make book-check                                   # = make book, then this script (Selenium from uv's `browser` group)
    python scripts/check_book_in_browser.py [--site book/_build/html] [--shots /tmp/book_shots]

The site is served on localhost (a static server in this process) and each page is opened in
headless Chromium. A page fails when, after MathJax has finished:
- TeX is left as text: `$$`, `\\frac`, `\\begin{`, `\\mathbb` and the like outside code blocks;
- an image did not load (a broken `src`, or a figure with no pixels);
- the browser's console logged an error (a failed request, a JavaScript exception);
- an internal link leads nowhere (`build_book.dead_links`, over the built files).
It also searches the site for a word every chapter series uses ("reparameterization") and fails
when the search page finds nothing. A screenshot of each page goes to --shots (the first screen of
it, 1280 x 1000). Exit status 0 when every page passed.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import json
import socketserver
import sys
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("build_book", REPO / "scripts" / "build_book.py")
build_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_book)

# TeX the reader should never see as text: MathJax replaces the delimited math it finds
LEFTOVER_TEX = r"(\$\$|\\frac|\\begin\{|\\mathbb|\\mathcal|\\sum_|\\log\b|\\theta|\\phi\b|\\sigma|\\mu\b)"

PAGE_REPORT = """
const done = arguments[arguments.length - 1];
// MathJax loads asynchronously: wait until it has started (a page with math must load it), then
// until its first typesetting pass is over
const started = new Promise((resolve, reject) => {
  const t0 = Date.now();
  (function poll() {
    if (document.readyState !== 'complete' || !document.body) return setTimeout(poll, 50);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) return resolve(MathJax.startup.promise);
    if (document.querySelector('.math') === null) return resolve();
    if (Date.now() - t0 > 30000) return reject('MathJax never started');
    setTimeout(poll, 50);
  })();
});
started.then(() => {
  const clone = document.querySelector('main') ? document.querySelector('main').cloneNode(true) : document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  const text = clone.textContent;
  const re = new RegExp(arguments[0], 'g');
  const leftover = [];
  let m;
  while ((m = re.exec(text)) !== null && leftover.length < 5) {
    leftover.push(text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\\s+/g, ' '));
  }
  const broken = Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'));
  done(JSON.stringify({
    leftover: leftover, broken: broken,
    math: document.querySelectorAll('mjx-container').length,
    images: document.images.length,
    title: document.title,
  }));
}).catch(e => done(JSON.stringify({error: String(e)})));
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve(site: Path) -> tuple[socketserver.TCPServer, int]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def browser() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,1000"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def check_page(driver: webdriver.Chrome, url: str, shot: Path) -> tuple[list[str], dict]:
    driver.set_script_timeout(60)
    for attempt in range(2):  # once more if the page was still being replaced (a redirect) when asked
        driver.get(url)
        report = json.loads(driver.execute_async_script(PAGE_REPORT, LEFTOVER_TEX))
        if "error" not in report:
            break
    time.sleep(0.2)
    driver.save_screenshot(str(shot))
    problems = []
    if "error" in report:
        problems.append(f"the page's check failed: {report['error']}")
    problems += [f"TeX left as text: ...{t}..." for t in report.get("leftover", [])]
    problems += [f"broken image: {src}" for src in report.get("broken", [])]
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            problems.append(f"console error: {entry.get('message', '')[:200]}")
    return problems, report


def search_finds(driver: webdriver.Chrome, base: str, word: str) -> int:
    driver.get(f"{base}/search.html?q={word}")
    for _ in range(200):  # Sphinx's search ends with a summary line ("Search finished, found N pages")
        summary = driver.find_elements("css selector", "#search-results .search-summary")
        if summary and summary[0].text.strip():
            return len(driver.find_elements("css selector", "#search-results li"))
        time.sleep(0.1)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=build_book.OUT)
    ap.add_argument("--shots", type=Path, default=Path("/tmp/book_shots"))
    args = ap.parse_args(argv)
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        print(f"no book at {site}: run `make book` first", file=sys.stderr)
        return 2
    args.shots.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if p.relative_to(site).parts[0] not in ("_static", "_sources"))
    failures = [f"dead link: {line}" for line in build_book.dead_links(site)]
    server, port = serve(site)
    base = f"http://127.0.0.1:{port}"
    driver = browser()
    try:
        for page in pages:
            shot = args.shots / (page.replace("/", "__").removesuffix(".html") + ".png")
            problems, report = check_page(driver, f"{base}/{page}", shot)
            status = "ok" if not problems else "FAILED"
            print(f"{status:6} {page}: {report.get('math', 0)} formulas, {report.get('images', 0)} images "
                  f"-> {shot}")
            failures += [f"{page}: {p}" for p in problems]
        found = search_finds(driver, base, "reparameterization")
        print(f"search 'reparameterization': {found} pages found")
        if not found:
            failures.append("search.html: searching 'reparameterization' found nothing")
    finally:
        driver.quit()
        server.shutdown()
    for line in failures:
        print(line, file=sys.stderr)
    print(f"{len(pages)} pages checked in Chromium, {len(failures)} problems; screenshots in {args.shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
