"""A headless Chromium driven over the DevTools protocol on pipes (--remote-debugging-pipe): the standard
library is enough, no websocket client or Playwright. Used to test the interactive page in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
REQUIRE_BROWSER = "REFOCUS_REQUIRE_BROWSER"
"""Set (CI can), a missing Chromium fails the browser tests instead of skipping them."""


def chromium_or_skip() -> str:
    """The Chromium to drive, or the test skipped with the reason (failed under REFOCUS_REQUIRE_BROWSER)."""
    import pytest

    found = find_chromium()
    if found is None:
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail("no Chromium on PATH, and REFOCUS_REQUIRE_BROWSER is set")
        pytest.skip("no Chromium on PATH (apt-get install chromium)")
    return found


def find_chromium() -> str | None:
    """The path of a Chromium or Chrome on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless browser with one page; `call` sends a DevTools command to the page and waits for its reply."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        args = [
            executable,
            "--headless=new",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--window-size=1000,800",
            "about:blank",
        ]

        def wire_pipes() -> None:  # the browser reads commands on fd 3 and writes replies on fd 4
            reading, writing = os.dup(to_browser_read), os.dup(from_browser_write)
            writing = os.dup(writing) if writing == 3 else writing  # so the first dup2 cannot clobber it
            os.dup2(reading, 3)
            os.dup2(writing, 4)
            os.set_inheritable(3, True)  # dup2 onto itself keeps close-on-exec
            os.set_inheritable(4, True)

        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,  # fds 3 and 4 must be set in the child
            close_fds=False,  # else they are closed again after preexec_fn
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        targets = self._send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self._session = self._send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})[
            "sessionId"
        ]

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            while b"\0" not in self._buffer:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    raise RuntimeError("the browser closed its pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A DevTools command on the page (Page.navigate, Runtime.evaluate, Input.dispatchMouseEvent, ...)."""
        return self._send(method, params, self._session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaiting promises)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, *, ready: str = "document.readyState === 'complete'", timeout_s: float = 20) -> None:
        """Navigate and wait until `ready` is true in the page."""
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.evaluate(ready):
                    return
            except RuntimeError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not get ready")

    def click(self, x: float, y: float) -> None:
        """A real left click (press and release) at viewport coordinates (CSS pixels)."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def close(self) -> None:
        self._process.kill()
        self._process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
