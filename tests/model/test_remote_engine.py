"""The OpenAI-compatible backend against a real local server that serves the memorizing model.

The server here speaks the ``/v1/models`` and streaming ``/v1/completions`` API of
vLLM or llama.cpp and answers with our own decoder, so the test checks the wire
format, FIM fields, streaming, stop rules and cancellation end to end.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tiny_model import MEMO

pytest.importorskip("torch")

from reason_lsp.engine import (
    Cancelled,
    EngineConfig,
    GenerateRequest,
    create_engine,
    loader,
)
from reason_lsp.engine.decoder import Decoder


@pytest.fixture
def server(memo_model: Path):
    decoder = Decoder(loader.load(EngineConfig(model=str(memo_model))))
    seen: list[dict] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"data": [{"id": "memo"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(request)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if request["prompt"].endswith("# slow"):
                for _ in range(200):  # a long answer, sent until the client hangs up
                    if release.wait(0.02):
                        break
                    try:
                        self._chunk("x")
                    except OSError:
                        return
                return
            out = decoder.generate(
                GenerateRequest(prefix=request["prompt"], suffix=request.get("suffix", ""),
                                max_new_tokens=request["max_tokens"])
            )  # fmt: skip
            for piece in out.samples[0].text.split(" "):
                self._chunk(piece + " ")
            self.wfile.write(b"data: [DONE]\n\n")

        def _chunk(self, text: str) -> None:
            data = {"choices": [{"text": text, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    release.set()
    httpd.shutdown()


def start(url: str):
    """A started remote engine, once it has said whether it reached the server."""
    settled = threading.Event()
    states: list[str] = []

    def on_state(state: str, detail: str) -> None:
        states.append(state)
        if state != "loading":
            settled.set()

    engine = create_engine(EngineConfig(backend="openai", url=url), on_state=on_state)
    engine.start()
    assert settled.wait(30), "the engine never reported ready or error"
    engine.states = states
    return engine


def wait_ready(engine) -> None:
    assert engine.state == "ready", engine.error


def test_remote_completion_streams_and_applies_the_stop_rule(server) -> None:
    url, seen = server
    engine = start(url)
    wait_ready(engine)
    cut = MEMO.index("return 2 * math.pi") + len("return 2 * ")
    request = GenerateRequest(
        prefix=MEMO[:cut], suffix=MEMO[cut:], max_new_tokens=16,
        stop=lambda t: t.index("\n") if "\n" in t else None,
    )  # fmt: skip
    out = engine.submit(request).result(timeout=30)
    assert out.samples[0].text.startswith("math.pi * radius")
    assert seen[0]["suffix"] == MEMO[cut:] and seen[0]["prompt"] == MEMO[:cut]
    assert seen[0]["model"] == "memo" and seen[0]["stream"] is True
    engine.close()


def test_remote_cancellation_hangs_up(server) -> None:
    url, _ = server
    engine = start(url)
    wait_ready(engine)
    request = GenerateRequest(prefix="# slow", max_new_tokens=1000)
    future = engine.submit(request)
    threading.Timer(0.2, request.cancel).start()
    with pytest.raises(Cancelled):
        future.result(timeout=30)
    assert engine.cancelled_jobs == 1
    engine.close()


def test_unreachable_server_is_an_error_state_not_a_crash() -> None:
    engine = start("http://127.0.0.1:9/v1")
    assert engine.state == "error" and "cannot reach" in engine.error
    assert engine.states == ["loading", "error"]
