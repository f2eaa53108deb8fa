"""`make webhook-listen` (like `stripe listen`): a receiver on 127.0.0.1, registered as a webhook endpoint of
a tenant of the running stack, printing each delivery verified by the Standard Webhooks reference library
(`standardwebhooks`); the endpoint is deleted when it stops."""

from __future__ import annotations

import http.server
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

import requests


class Listener:
    """The receiver: verifies each POST with the endpoint's secret and hands the event to on_event."""

    def __init__(self, port: int = 0, answer: int = 204) -> None:
        self.secret = ""
        self.answer = answer
        self.on_event: Callable[[dict[str, Any], dict[str, str]], None] = lambda event, headers: None
        self.rejected = 0
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from standardwebhooks.webhooks import Webhook, WebhookVerificationError

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = Webhook(listener.secret).verify(body, headers)
                except WebhookVerificationError as exc:
                    listener.rejected += 1
                    print(f"REJECTED (not signed with this endpoint's secret: {exc})", file=sys.stderr, flush=True)
                    self.send_response(400)
                    self.end_headers()
                    return
                self.send_response(listener.answer)
                self.end_headers()
                if 200 <= listener.answer < 300:
                    listener.on_event(event, headers)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-listen", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def register(base_url: str, token: str, url: str, event_types: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "description": "imagestore-local webhook-listen"}
    if event_types:
        body["eventTypes"] = event_types
    answer = requests.post(
        f"{base_url}/webhooks/endpoints", json=body, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )
    if answer.status_code != 201:
        raise RuntimeError(f"registration refused: {answer.status_code} {answer.text}")
    return dict(answer.json())


def unregister(base_url: str, token: str, endpoint_id: str) -> None:
    requests.delete(
        f"{base_url}/webhooks/endpoints/{endpoint_id}", timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


def listen(base_url: str, token: str, port: int, event_types: list[str] | None, out: TextIO) -> int:
    """Run until interrupted; prints one JSON line per verified event."""
    listener = Listener(port)
    listener.start()
    endpoint = register(base_url, token, listener.url, event_types)
    listener.secret = endpoint["secret"]

    def show(event: dict[str, Any], headers: dict[str, str]) -> None:
        print(json.dumps({"verified": True, "webhook-id": headers.get("webhook-id"), **event}), file=out, flush=True)

    listener.on_event = show

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # make stops it as Ctrl-C does: the endpoint is deleted
    print(
        f"listening on {listener.url} as endpoint {endpoint['endpointId']} "
        f"(events: {', '.join(endpoint['eventTypes'])}); every delivery is verified with its whsec_ secret. "
        "Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        unregister(base_url, token, endpoint["endpointId"])
        listener.stop()
    return 0
