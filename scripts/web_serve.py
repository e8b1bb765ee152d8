#!/usr/bin/env python3
"""Serves the example sign-in page (examples/web/dist) on 127.0.0.1 for the local stack.

    GET /             the page (examples/web/dist/index.html and its bundle)
    GET /config.json  what the page needs to reach the pool: endpoint, region, pool and client IDs
    GET /mailbox      the emulator's sent mail, newest first, as a plain HTML list (local only:
                      it stands in for the user's inbox)

Every request is logged to STACK_DIR/web-requests.log as a normal access log would have it
(method, path with its query, status), so the tests can show that a sign-in link's code, which
travels in the URL's fragment, never reaches the server.

`stack.py up` starts it after the deploy and `stack.py down` stops it. The page talks to the
emulator directly, as a deployed page talks to Cognito; the emulator answers browsers only from this
page's origin. This server answers only its own loopback names (a DNS-rebinding site sends its own
name in `Host`) and refuses requests from other origins; it grants no CORS
(scripts/loopback_guard.py).
"""

from __future__ import annotations

import html
import json
import os
import sys
import threading
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loopback_guard import loopback_hosts, page_origins, refusal

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("STACK_DIR", ROOT / ".local" / "stack")).resolve()
DIST = ROOT / "examples" / "web" / "dist"
PORT = int(os.environ.get("STACK_WEB_PORT", "4580"))
ACCESS_LOG = STATE / "web-requests.log"
HOSTS = loopback_hosts(PORT)
ORIGINS = page_origins(PORT)


# Read once at start: the stack's outputs do not change while this server runs.
OUTPUTS = json.loads((STATE / "outputs.json").read_text())


def outputs() -> dict:
    return OUTPUTS


class Handler(SimpleHTTPRequestHandler):
    access_log = None  # opened by main()
    access_lock = threading.Lock()

    def end_headers(self) -> None:
        # The page handles one-time codes and tokens: keep it out of caches and referrers, and
        # allow scripts and styles only from this origin.
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src 'self' {outputs()['Endpoint']}; img-src 'self' data:; "
            "style-src 'self'; frame-ancestors 'none'",
        )
        super().end_headers()

    def refused(self) -> bool:
        """Answers a request from elsewhere than this page with an error, and says so. Cross-site
        requests without an Origin pass: a link in an email opens the page from another site."""
        why = refusal({k.lower(): v for k, v in self.headers.items()}, HOSTS, ORIGINS, cross_site=False)
        if why is not None:
            self.send_error(*why)
        return why is not None

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
        if not self.refused():
            super().do_HEAD()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.refused():
            return
        path = self.path.split("?", 1)[0]
        if path == "/config.json":
            out = outputs()
            body = json.dumps(
                {k: out[k] for k in ("Endpoint", "Region", "UserPoolId", "UserPoolClientId", "ResendCooldownSeconds")}
            ).encode()
            return self.reply(200, "application/json", body)
        if path == "/mailbox":
            return self.reply(200, "text/html; charset=utf-8", self.mailbox().encode())
        return super().do_GET()

    def reply(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def mailbox(self) -> str:
        with urllib.request.urlopen(outputs()["Mailbox"], timeout=5) as r:
            accounts = json.load(r).get("messages", {})
        msgs = [m for ms in accounts.values() for m in ms] if isinstance(accounts, dict) else list(accounts)
        msgs.sort(key=lambda m: m.get("Timestamp", 0), reverse=True)
        items = "".join(
            f"<li><b>{html.escape(', '.join(m.get('To', [])))}</b>: {html.escape(m.get('Subject', ''))}"
            f"<pre>{html.escape(m.get('BodyText', ''))}</pre></li>"
            for m in msgs
        )
        return (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Local mailbox</title>"
            f"<h1>Local mailbox</h1><p>{len(msgs)} messages, newest first.</p><ol>{items}</ol></html>"
        )

    def log_request(self, code="-", size="-") -> None:
        # The access log: what any web server would record of the request, the query included.
        with Handler.access_lock:
            Handler.access_log.write(f"{self.command} {self.path} {getattr(code, 'value', code)}\n")
            Handler.access_log.flush()
        super().log_request(code, size)

    def log_message(self, fmt: str, *args) -> None:
        # One line per request on stderr (.local/stack/web.log), without the query string.
        sys.stderr.write("%s %s\n" % (self.command, self.path.split("?", 1)[0]))


def main() -> None:
    if not (DIST / "index.html").is_file():
        sys.exit(f"web_serve: {DIST} has no index.html; build it with `make web`")
    Handler.access_log = open(ACCESS_LOG, "w", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", PORT), partial(Handler, directory=str(DIST)))
    server.serve_forever()


if __name__ == "__main__":
    main()
