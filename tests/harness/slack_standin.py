"""A local stand-in for Slack's Web API (and for response_url), recording what Shirube sends.

Slack cannot be reached from the test machines, so `slack_sdk` is pointed here through
SHIRUBE_SLACK_API_URL. It answers as Slack does: `{"ok": true, ...}` with a message `ts`
for chat.postMessage, `{"ok": false, "error": ...}` for errors, and it can be told to
answer the next calls with 429 and a Retry-After, with 500, or not at all for a while
(a timeout), or to be down (500 to everything) until told otherwise.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Call:
    method: str  # chat.postMessage, users.info, views.open, or "response" for a response_url
    body: dict
    headers: dict
    at: float = field(default_factory=time.monotonic)


class SlackStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict] = {}  # users.info answers, by user id
        self.errors: dict[tuple[str, str], str] = {}  # (method, channel) -> Slack error code
        self._script: list[
            tuple[str, float]
        ] = []  # the next answers: ("429", retry_after), ("500", 0), ("hang", s)
        self.down = False  # 500 to every Web API call while True
        # Set: answers flow. Cleared: a call is recorded (and counts as received, as at Slack) and then
        # waits for its answer, so that a test can kill the worker inside the call.
        self.hold = threading.Event()
        self.hold.set()
        self.received = threading.Condition()
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.url}/response/{key}"

    def start(self) -> SlackStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.users.clear()
            self.errors.clear()
            self._script.clear()
        self.down = False
        self.hold.set()

    def answer_next(self, *answers: tuple[str, float]) -> None:
        """Script the next Web API answers: ("429", retry_after), ("500", 0), ("hang", seconds)."""
        with self._lock:
            self._script.extend(answers)

    def posted(self, channel: str | None = None) -> list[dict]:
        """The chat.postMessage bodies Slack accepted (answered ok), optionally to one channel."""
        return [
            c.body
            for c in self.calls
            if c.method == "chat.postMessage"
            and c.body.get("_ok")
            and (channel is None or c.body["channel"] == channel)
        ]

    def responses(self) -> list[dict]:
        return [c.body for c in self.calls if c.method == "response"]

    def wait_for(self, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        with self.received:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("the Slack stand-in did not receive what was expected in time")
                self.received.wait(min(left, 0.2))

    def _next_script(self) -> tuple[str, float] | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict | str, headers: dict | None = None) -> None:
                data = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if isinstance(body, dict) else "text/html"
                )
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or b"{}")
                else:
                    body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                if self.path.startswith("/response/"):
                    call = Call("response", {**body, "_key": self.path.rsplit("/", 1)[1]}, dict(self.headers))
                    self._record(call)
                    self._send(200, "ok")
                    return
                method = self.path.removeprefix("/api/")
                call = Call(method, body, dict(self.headers))
                scripted = standin._next_script()
                if scripted and scripted[0] == "hang":
                    self._record(call)
                    time.sleep(scripted[1])
                    return  # the client has given up by now
                if scripted and scripted[0] == "429":
                    self._record(call)
                    self._send(
                        429, {"ok": False, "error": "ratelimited"}, {"Retry-After": f"{scripted[1]:g}"}
                    )
                    return
                if standin.down or (scripted and scripted[0] == "500"):
                    self._record(call)
                    self._send(500, "<html>Internal Server Error</html>")
                    return
                answer = self._answer(call)
                standin.hold.wait(120)
                self._send(200, answer)

            def _answer(self, call: Call) -> dict:
                auth = call.headers.get("Authorization", "")
                if not auth.startswith("Bearer xoxb-"):
                    self._record(call)
                    return {"ok": False, "error": "not_authed"}
                if error := standin.errors.get((call.method, call.body.get("channel", ""))):
                    self._record(call)
                    return {"ok": False, "error": error}
                if call.method == "chat.postMessage":
                    ts = f"{int(time.time())}.{next(standin._ts):06d}"
                    call.body.update(_ok=True, _ts=ts)
                    self._record(call)
                    return {"ok": True, "channel": call.body["channel"], "ts": ts}
                self._record(call)
                if call.method == "users.info":
                    user = standin.users.get(call.body.get("user", ""))
                    return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
                return {"ok": True}

            def _record(self, call: Call) -> None:
                with standin.received:
                    standin.calls.append(call)
                    standin.received.notify_all()

        return Handler
