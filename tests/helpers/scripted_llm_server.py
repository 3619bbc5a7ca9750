"""A scripted OpenAI-compatible chat server on a real socket, for tests whose claim is about our client.

It streams answers as server-sent events at a set pace, runs at most `capacity` requests at once (the rest
wait in its queue and receive nothing, as in vLLM), reports that queue as vLLM's `num_requests_waiting`
gauge on /metrics, and records every request it received, so a test can prove none was sent twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.http_stub import serve_http


@dataclass
class Script:
    tokens: int = 10  # pieces per answer
    interval_s: float = 0.05  # between pieces
    capacity: int = 1_000  # requests answered at once; the rest wait, silent
    silent: bool = False  # accept every request and never answer
    metrics: bool = True  # serve vLLM's queue gauge on /metrics (False: 404, as a server that is not vLLM)
    error_after: int | None = None  # send an error chunk after this many pieces (vLLM's mid-stream failure)
    error_text: str = "EngineDeadError: EngineCore encountered an issue."
    # the text of choice k for a conversation (streamed word by word, finish_reason "stop"); None: `tokens` pieces
    # "w0 w1 ..." ending in finish_reason "length"
    answer: Callable[[list[dict[str, str]], int], str] | None = None


@dataclass
class ScriptedServer:
    script: Script
    url: str = ""
    received: Counter[str] = field(default_factory=Counter)  # prompt text -> times received
    peak_running: int = 0
    running: int = 0
    waiting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    stop: threading.Event = field(default_factory=threading.Event)


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    script = server.script

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send_json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send_json(200, {"data": [{"id": "scripted"}]})
            elif self.path == "/metrics" and script.metrics:
                text = f'vllm:num_requests_waiting{{model_name="scripted"}} {server.waiting}\n'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            else:
                self._send_json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][-1]["content"]
            with server.lock:
                server.received[prompt] += 1
                server.waiting += 1
            if script.silent:
                server.stop.wait()
                return
            server.slots.acquire()
            with server.lock:
                server.waiting -= 1
                server.running += 1
                server.peak_running = max(server.peak_running, server.running)
            try:
                self._stream(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away
            finally:
                with server.lock:
                    server.running -= 1
                server.slots.release()

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            n = int(body.get("n", 1))

            def event(payload: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

            if script.answer is not None:
                self._answer(body, event)
                return
            for k in range(script.tokens):
                if server.stop.is_set():
                    return
                if script.error_after is not None and k == script.error_after:
                    event({"error": {"message": script.error_text, "code": 500}})
                    return
                time.sleep(script.interval_s)
                for i in range(n):
                    event({"choices": [{"index": i, "delta": {"content": f"w{k} "}, "finish_reason": None}]})
            for i in range(n):
                event({"choices": [{"index": i, "delta": {}, "finish_reason": "length"}]})
            event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": script.tokens * n}})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _answer(self, body: dict[str, Any], event: Callable[[dict[str, Any]], None]) -> None:
            """Each choice's scripted text, word by word at the script's pace."""
            assert script.answer is not None
            texts = [script.answer(body["messages"], i) for i in range(int(body.get("n", 1)))]
            pieces = [[w + " " for w in t.split(" ")] for t in texts]
            pieces = [[*p[:-1], p[-1].rstrip(" ")] for p in pieces]
            for k in range(max(len(p) for p in pieces)):
                if server.stop.is_set():
                    return
                time.sleep(script.interval_s)
                for i, p in enumerate(pieces):
                    if k < len(p):
                        event({"choices": [{"index": i, "delta": {"content": p[k]}, "finish_reason": None}]})
            for i in range(len(texts)):
                event({"choices": [{"index": i, "delta": {}, "finish_reason": "stop"}]})
            completion = sum(len(p) for p in pieces)
            event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": completion}})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    """Serve `script` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ScriptedServer(script, slots=threading.Semaphore(script.capacity))
    with serve_http(_handler(server)) as url:
        server.url = url
        try:
            yield server
        finally:
            server.stop.set()  # silent handlers wait on it: let them end before the server shuts down
