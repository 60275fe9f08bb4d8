"""Open a segql report in headless Chromium and say what the browser saw, as JSON.

Usage: chromium_report.py CHROMIUM PAGE.html SCREENSHOT_DIR TIMEOUT_SECONDS

Drives Chromium through the DevTools protocol over a pipe (`--remote-debugging-pipe`: file
descriptors 3 and 4, messages ending in NUL), so it needs nothing outside the standard
library. Prints one JSON object: every request the page made besides the page itself,
console messages, exceptions and log entries of level error, each chart (its id, whether it
drew an SVG, the SVG's width and height attributes and rendered size, its elements, or its
sentence), every table cell (chart, row, column, text), the number of script elements, the
page's text, and the screenshots written (one PNG per section). The whole run is bounded by
TIMEOUT_SECONDS: past it the browser is killed and the exit code is 3.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

COLLECT = r"""
(() => {
  const charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const svg = f.querySelector('svg');
    const empty = f.querySelector('p.empty');
    if (!svg) return {id: f.dataset.chart, svg: false, sentence: empty ? empty.textContent : null};
    const r = svg.getBoundingClientRect();
    return {
      id: f.dataset.chart, svg: true,
      width_attr: Number(svg.getAttribute('width')), height_attr: Number(svg.getAttribute('height')),
      width: r.width, height: r.height,
      elements: svg.querySelectorAll('*').length,
      title: (svg.querySelector('title') || {}).textContent || null,
      caption: (f.querySelector('figcaption') || {}).textContent || null,
    };
  });
  const cells = [];
  for (const t of document.querySelectorAll('table[data-chart]')) {
    const heads = [...t.querySelectorAll('thead th')].map(th => th.textContent);
    for (const tr of t.querySelectorAll('tbody tr')) {
      const row = tr.querySelector('th').textContent;
      [...tr.querySelectorAll('td')].forEach((td, i) =>
        cells.push([t.dataset.chart, row, heads[i + 1], td.textContent]));
    }
  }
  const sections = [...document.querySelectorAll('section')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.id, x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
  });
  return {charts, cells, sections,
          scripts: document.querySelectorAll('script').length,
          text: document.body.innerText, title: document.title};
})()
"""


class Browser:
    def __init__(self, chromium, profile):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def child():
            # Through fresh descriptors first: a pipe's end may already be 3 or 4.
            r, w = os.dup(to_r), os.dup(from_w)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.setsid()

        args = [
            chromium, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
            "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps", "--disable-extensions",
            "--hide-scrollbars", "--mute-audio", "--force-color-profile=srgb",
            f"--user-data-dir={profile}", "about:blank",
        ]
        self.proc = subprocess.Popen(
            args, preexec_fn=child, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self.out = os.fdopen(to_w, "wb", buffering=0)
        self.inp = os.fdopen(from_r, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()

    def _read(self):
        while b"\0" not in self.buf:
            chunk = self.inp.read(1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            if "method" in m:
                self.events.append(m)

    def wait_for(self, method):
        for i, e in enumerate(self.events):
            if e["method"] == method:
                return self.events.pop(i)
        while True:
            m = self._read()
            if m.get("method") == method:
                return m
            if "method" in m:
                self.events.append(m)


def main():
    chromium, page, shots, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    profile = tempfile.mkdtemp(prefix="segql-chromium-")
    browser = Browser(chromium, profile)

    def expire(*_):
        browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
        print(json.dumps({"error": f"the browser did not finish within {timeout} s"}))
        sys.exit(3)

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ["Page", "Runtime", "Network", "Log"]:
            browser.call(f"{domain}.enable", session=s)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 820, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session=s)
        url = "file://" + os.path.abspath(page)
        browser.call("Page.navigate", {"url": url}, session=s)
        browser.wait_for("Page.loadEventFired")
        # Anything late (there should be nothing) gets a moment to show up.
        time.sleep(0.3)
        seen = browser.call("Runtime.evaluate",
                            {"expression": COLLECT, "returnByValue": True}, session=s)
        if "exceptionDetails" in seen:
            raise RuntimeError(f"the page's survey failed: {seen['exceptionDetails']}")
        result = seen["result"]["value"]
        os.makedirs(shots, exist_ok=True)
        written = []
        for sec in result["sections"]:
            if sec["height"] <= 0:
                continue
            shot = browser.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": sec["x"], "y": sec["y"], "width": sec["width"],
                         "height": sec["height"], "scale": 1},
            }, session=s)
            path = os.path.join(shots, f"{sec['id']}.png")
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            written.append(path)
        requests, errors = [], []
        for e in browser.events:
            p = e.get("params", {})
            if e["method"] == "Network.requestWillBeSent":
                if p["request"]["url"] != url:
                    requests.append(p["request"]["url"])
            elif e["method"] == "Runtime.consoleAPICalled":
                errors.append({"console": p.get("type"), "args": p.get("args")})
            elif e["method"] == "Runtime.exceptionThrown":
                errors.append({"exception": p.get("exceptionDetails")})
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                errors.append({"log": p["entry"]})
        result.update({"requests": requests, "errors": errors, "screenshots": written})
        del result["sections"]
        print(json.dumps(result))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        browser.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
