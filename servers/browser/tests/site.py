# ruff: noqa: E501  (HTML and JavaScript of the test pages read best unwrapped)
"""A local web site for the browser tests, served from a background thread on 127.0.0.1 (and 127.0.0.2).

`start_site(host)` returns a `Site` with its base URL and per-path hit counters. Routes:

- /                 a page with a link, buttons, a field, a select, a checkbox and a growing list
- /two              a second page (for back/forward)
- /dialogs          buttons that open alert, confirm and prompt dialogs and write the answer on the page
- /tabs             a link with target=_blank and a button calling window.open
- /download         a link to /file.csv (Content-Disposition: attachment)
- /upload           a file input that writes the chosen file names and sizes on the page
- /cookie?v=X       sets cookie v=X; /whoami shows the cookie the browser sent
- /big              a page with 3000 list items and 300 buttons
- /subrequests?target=BASE   a page that asks BASE for an image, script, stylesheet, iframe, fetch, XHR,
                             and a WebSocket
- /redirect?to=URL  302 to URL
- /delayed          text that appears after 300 ms and a spinner that goes away
- /console          logs to the console on load
- /photo            a tall canvas of photo-like noise (large as PNG, much smaller as JPEG)
- /huge?n=N         N list items (100,000 by default)
- /same?n=N         N identical list items and a button that changes the first and the last
- /busy             a page whose script starts an endless loop 300 ms after it loaded
- /anything-else    a small page naming the path

A test may add its own pages: `site.extra[path] = html` (served as UTF-8 HTML), e.g. hostile ones.
"""

from __future__ import annotations

import html
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HOME = """<!doctype html><html><head><title>Home page</title></head><body>
<h1>Welcome</h1>
<nav aria-label="Main"><a href="/two">Second page</a></nav>
<main>
<p id="out">nothing yet</p>
<button onclick="document.getElementById('out').textContent = 'pressed ' + (++window.n || (window.n = 1))">Press me</button>
<label>Name <input id="name" onkeyup="document.getElementById('echo').textContent = this.value"></label>
<p id="echo"></p>
<label>Fruit <select id="fruit"><option value="a">Apple</option><option value="b">Banana</option></select></label>
<label><input type="checkbox" id="agree"> I agree</label>
<div id="hover" onmouseover="this.textContent = 'hovered'" style="cursor: pointer">hover here</div>
<form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'submitted ' + document.getElementById('name').value">
<input id="q" aria-label="Query"><button>Go</button></form>
<button onclick="var li = document.createElement('li'); li.textContent = 'item ' + document.querySelectorAll('#grow li').length; document.getElementById('grow').appendChild(li)">Add item</button>
<ul id="grow"></ul>
</main></body></html>"""

TWO = "<!doctype html><title>Second page</title><h1>Second</h1><a href='/'>Home again</a>"

DIALOGS = """<!doctype html><title>Dialogs</title>
<button onclick="alert('Saved!'); document.getElementById('r').textContent = 'after alert'">Alert</button>
<button onclick="document.getElementById('r').textContent = confirm('Delete it?') ? 'confirmed' : 'cancelled'">Confirm</button>
<button onclick="document.getElementById('r').textContent = 'answer: ' + prompt('Your city?', 'Paris')">Prompt</button>
<p id="r">no answer</p>"""

TABS = """<!doctype html><title>Tabs</title>
<a href="/two" target="_blank">Open in new tab</a>
<button onclick="window.open('/dialogs')">Pop up</button>
<button onclick="setTimeout(() => window.open('/two'), 600)">Pop up late</button>"""

DOWNLOAD = """<!doctype html><title>Download</title><a href="/file.csv">Get the CSV</a>
<a href="/file.csv?name=../../etc/evil.sh">Get a badly named file</a>"""

UPLOAD = """<!doctype html><title>Upload</title>
<label>Attachment <input type="file" id="f" multiple onchange="document.getElementById('picked').textContent =
 Array.from(this.files).map(f => f.name + ':' + f.size).join(', ')"></label>
<p id="picked">none</p>"""

DELAYED = """<!doctype html><title>Delayed</title><p id="spin">Loading...</p>
<script>setTimeout(() => { document.getElementById('spin').remove();
 const p = document.createElement('p'); p.textContent = 'Ready now'; document.body.appendChild(p); }, 300);</script>"""

CONSOLE = """<!doctype html><title>Console</title><script>console.log('hello from the page');
console.error('something broke');</script><p>logged</p>"""


PHOTO = """<!doctype html><title>Photo</title><body style="margin:0">
<canvas id="c" width="1280" height="2400"></canvas><script>
const c = document.getElementById('c'), g = c.getContext('2d'), img = g.createImageData(c.width, c.height);
let seed = 7; const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
  const i = (y * c.width + x) * 4, n = rnd() * 40;
  img.data[i] = 120 + 80 * Math.sin(x / 53) + n; img.data[i + 1] = 120 + 80 * Math.cos(y / 71) + n;
  img.data[i + 2] = 120 + 60 * Math.sin((x + y) / 97) + n; img.data[i + 3] = 255;
}
g.putImageData(img, 0, 0);</script>"""


def _big() -> str:
    items = "".join(f"<li>Row number {i} with some words in it</li>" for i in range(3000))
    buttons = "".join(f"<button>Button {i}</button>" for i in range(300))
    return f"<!doctype html><title>Big</title><h1>Big page</h1>{buttons}<ul>{items}</ul>"


def _subrequests(target: str) -> str:
    ws = target.replace("http://", "ws://")
    return f"""<!doctype html><title>Subrequests</title><p>Sub-requests to {html.escape(target)}</p>
<img src="{target}/pixel.png" alt="pixel">
<script src="{target}/script.js"></script>
<link rel="stylesheet" href="{target}/style.css">
<iframe src="{target}/frame" title="frame"></iframe>
<script>
fetch('{target}/fetch').catch(() => {{}});
var x = new XMLHttpRequest(); x.open('GET', '{target}/xhr'); x.send();
try {{ new WebSocket('{ws}/socket'); }} catch (e) {{}}
</script>"""


@dataclass
class Site:
    """A running local site."""

    server: ThreadingHTTPServer
    host: str
    hits: Counter[str] = field(default_factory=Counter)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_site(host: str = "127.0.0.1") -> Site:
    """Serve the site on a free port of `host` from a daemon thread."""
    holder: dict[str, Site] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8", **headers: str
        ) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            path = parts.path
            holder["site"].hits[path] += 1
            pages = {
                "/": HOME,
                "/two": TWO,
                "/dialogs": DIALOGS,
                "/tabs": TABS,
                "/download": DOWNLOAD,
                "/upload": UPLOAD,
                "/delayed": DELAYED,
                "/console": CONSOLE,
                "/photo": PHOTO,
            }
            if path in holder["site"].extra:
                self._send(200, holder["site"].extra[path])
            elif path in pages:
                self._send(200, pages[path])
            elif path == "/huge":
                count = int(query.get("n", ["100000"])[0])
                self._send(200, "<!doctype html><title>Huge</title><ul>" + "<li>row</li>" * count + "</ul>")
            elif path == "/same":
                count = int(query.get("n", ["6000"])[0])
                script = (
                    "const items = document.querySelectorAll('li'); items[0].textContent = 'first changed'; "
                    "items[items.length - 1].textContent = 'last changed';"
                )
                body = f'<button onclick="{script}">Change ends</button><ul>' + "<li>same</li>" * count
                self._send(200, f"<!doctype html><title>Same</title>{body}</ul>")
            elif path == "/busy":
                spin = "addEventListener('load', () => setTimeout(() => { for (;;) {} }, 300));"
                self._send(200, f"<!doctype html><title>Busy</title><p>busy soon</p><script>{spin}</script>")
            elif path == "/big":
                self._send(200, _big())
            elif path == "/subrequests":
                self._send(200, _subrequests(query.get("target", [""])[0]))
            elif path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query.get("to", ["/"])[0])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/file.csv":
                name = query.get("name", ["tides.csv"])[0]
                self._send(
                    200,
                    "day,high,low\nmon,5.1,0.9\n",
                    "text/csv",
                    Content_Disposition=f'attachment; filename="{name}"',
                )
            elif path == "/cookie":
                value = query.get("v", ["1"])[0]
                self._send(
                    200,
                    f"<title>Cookie</title><p>set {html.escape(value)}</p>",
                    Set_Cookie=f"v={value}; Path=/",
                )
            elif path == "/whoami":
                cookie = self.headers.get("Cookie", "") or "no cookie"
                self._send(200, f"<title>Who</title><p>cookie: {html.escape(cookie)}</p>")
            elif path == "/pixel.png":
                self._send(200, b"\x89PNG\r\n\x1a\n", "image/png")
            else:
                self._send(200, f"<title>{html.escape(path)}</title><p>path {html.escape(path)}</p>")

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    site = Site(server, host)
    holder["site"] = site
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return site
