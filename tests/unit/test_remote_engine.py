"""The openai backend's error paths and wire format, against a hand-written server.

The server here is a stand-in for the shapes real engines answer with (vLLM's echoed
``logprobs``, 429/5xx, a slow stream), for what a real engine cannot be made to do on
demand. Whether the backend works with a real engine is ``tests/engine`` (llama.cpp).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reason_lsp.engine import (
    GENERATE,
    MEMBERS,
    SCORE,
    Cancelled,
    EngineConfig,
    GenerateRequest,
    latency,
)
from reason_lsp.engine.client import BackendError
from reason_lsp.engine.remote import RemoteEngine

SECRET = "AKIAQYLPMN5HHHFPZAM2"


class FakeServer:
    """An OpenAI-compatible server that records what it was sent."""

    def __init__(self, model: str = "bigcode/starcoder2-3b", echo: bool = False, port: int = 0):
        self.model, self.echo = model, echo
        self.seen: list[dict] = []
        self.headers: list[dict] = []
        self.fail: list[int] = []  # statuses to answer the next completions with
        self.hung_up = threading.Event()
        self.connections: list[socket.socket] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                fake.connections.append(self.request)

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, data: object, headers: dict | None = None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    self._json(200, {"data": [{"id": fake.model, "owned_by": "test"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/completions":
                    return self._json(404, {"error": {"message": "not found"}})
                fake.seen.append(body)
                fake.headers.append(dict(self.headers))
                if fake.fail:
                    status = fake.fail.pop(0)
                    return self._json(status, {"error": {"message": f"status {status}"}},
                                      {"Retry-After": "0"})  # fmt: skip
                if body.get("echo"):
                    return self._echo(body)
                if not body.get("stream"):
                    lp = {"tokens": ["x"], "token_logprobs": [-0.1]}
                    return self._json(200, {"choices": [{"text": "x", "logprobs": lp}],
                                            "usage": {"prompt_tokens": 3}})  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if body["prompt"].endswith("# slow"):
                    return self._slow()
                for piece in ["    return", " a", " +", " b", "\n", "\nprint"]:
                    self._event(piece, -0.5)
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

            def _event(self, text: str, logprob: float) -> None:
                lp = {"tokens": [text], "token_logprobs": [logprob]}
                data = {"choices": [{"text": text, "logprobs": lp, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _slow(self) -> None:
                for _ in range(500):
                    if fake.release.wait(0.02):
                        break
                    try:
                        self._event("x", -1.0)
                    except OSError:
                        fake.hung_up.set()
                        return
                self.close_connection = True

            def _echo(self, body: dict) -> None:
                if not fake.echo:
                    return self._json(400, {"error": {"message": "echo is not supported"}})
                prompt = body["prompt"]
                words = prompt.split(" ")
                tokens, offsets, at = [], [], 0
                for i, w in enumerate(words):
                    piece = w if i == 0 else " " + w
                    tokens.append(piece)
                    offsets.append(at)
                    at += len(piece)
                values = [None] + [-1.0 - i for i in range(1, len(tokens))]
                tops = [None] + [{"<|endoftext|>": -0.1, " top": -0.2}] * (len(tokens) - 1)
                lp = {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops,
                      "text_offset": offsets}  # fmt: skip
                self._json(200, {"choices": [{"text": "", "logprobs": lp}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for conn in self.connections:  # a killed server takes its kept connections along
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


@pytest.fixture(autouse=True)
def stats_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REASON_LSP_STATS_DIR", str(tmp_path / "stats"))


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.stop()


def start(url: str, **config) -> tuple[RemoteEngine, list[str], list[str]]:
    states: list[str] = []
    logs: list[str] = []
    changed = threading.Condition()

    def on_state(state: str, detail: str) -> None:
        with changed:
            states.append(state)
            changed.notify_all()

    engine = RemoteEngine(EngineConfig(backend="openai", url=url, **config), on_state, logs.append)
    engine.start()
    engine.changed = changed
    return engine, states, logs


def wait_for(engine: RemoteEngine, states: list[str], state: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with engine.changed:
        while (not states or states[-1] != state) and time.monotonic() < deadline:
            engine.changed.wait(0.1)
    assert states and states[-1] == state, (states, engine.error)


def test_fim_prompt_is_built_in_the_models_convention_and_streamed(server) -> None:
    engine, states, _ = start(server.url)
    wait_for(engine, states, "ready")
    assert engine.capabilities == {GENERATE}  # no echo: no scoring, said why
    assert "log-probabilities" in engine.unsupported_reason(SCORE)
    request = GenerateRequest(
        prefix="def add(a, b):\n", suffix="\n\nprint(add(1, 2))\n", max_new_tokens=16,
        stop=lambda t: t.index("\n") if "\n" in t else None,
    )  # fmt: skip
    out = engine.submit(request).result(timeout=20)
    sample = out.samples[0]
    assert sample.text == "    return a + b"
    assert sample.token_logprobs == (-0.5, -0.5, -0.5, -0.5)  # the tokens kept, not "\n"
    sent = server.seen[-1]
    # StarCoder's PSM template as text; the suffix field is never sent.
    assert sent["prompt"] == ("<fim_prefix>def add(a, b):\n<fim_suffix>\n\nprint(add(1, 2))\n"
                              "<fim_middle>")  # fmt: skip
    assert "suffix" not in sent and sent["stream"] is True and sent["temperature"] == 0.0
    assert "<|endoftext|>" in sent["stop"] and sent["logprobs"] == 1
    assert engine.info.fim == "starcoder"
    engine.close()


def test_api_key_comes_from_the_named_environment_variable(server, monkeypatch) -> None:
    monkeypatch.setenv("TEAM_LLM_KEY", "k-123-secret")
    engine, states, logs = start(server.url, api_key_env="TEAM_LLM_KEY")
    wait_for(engine, states, "ready")
    engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20)
    assert server.headers[-1]["Authorization"] == "Bearer k-123-secret"
    assert not any("k-123-secret" in line for line in logs)
    engine.close()


def test_a_missing_key_variable_is_a_clear_error(server, monkeypatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    engine, states, _ = start(server.url, api_key_env="NO_SUCH_KEY_VAR")
    wait_for(engine, states, "error")
    assert "NO_SUCH_KEY_VAR" in engine.error and "not set" in engine.error
    engine.close()


def test_429_and_5xx_are_retried_a_bad_request_is_not(server) -> None:
    engine, states, _ = start(server.url)
    wait_for(engine, states, "ready")
    before = engine.stats.retries
    server.fail = [429, 503]
    out = engine.submit(GenerateRequest(prefix="x = 1\n", max_new_tokens=4)).result(timeout=20)
    assert out.samples[0].text.startswith("    return")
    assert engine.stats.retries - before == 2
    server.fail = [400]
    with pytest.raises(BackendError, match="HTTP 400"):
        engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20)
    assert engine.state == "ready"  # an answered error is not an outage
    engine.close()


def test_cancellation_hangs_up_the_stream(server) -> None:
    engine, states, _ = start(server.url)
    wait_for(engine, states, "ready")
    request = GenerateRequest(prefix="# slow", max_new_tokens=1000)
    future = engine.submit(request)
    threading.Timer(0.2, request.cancel).start()
    with pytest.raises(Cancelled):
        future.result(timeout=20)
    assert server.hung_up.wait(10), "the server kept streaming to a cancelled request"
    assert engine.cancelled_jobs == 0 or engine.cancelled_jobs == 1
    engine.close()


def test_secrets_are_redacted_and_only_counted_in_the_log(server) -> None:
    engine, states, logs = start(server.url)
    wait_for(engine, states, "ready")
    prefix = f'aws_key = "{SECRET}"\ndef f():\n'
    engine.submit(GenerateRequest(prefix=prefix, suffix="\nf()\n")).result(timeout=20)
    assert SECRET not in json.dumps(server.seen[-1])
    assert 'aws_key = "REDACTED"' in server.seen[-1]["prompt"]
    assert any("redacted 1 secret(s)" in line for line in logs)
    assert not any(SECRET in line for line in logs)
    engine.close()


def test_redaction_can_be_turned_off(server) -> None:
    engine, states, _ = start(server.url, redact=False)
    wait_for(engine, states, "ready")
    engine.submit(GenerateRequest(prefix=f'k = "{SECRET}"\n')).result(timeout=20)
    assert SECRET in server.seen[-1]["prompt"]
    engine.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_retried_until_it_comes_back() -> None:
    port = free_port()
    engine, states, _ = start(f"http://127.0.0.1:{port}/v1")
    wait_for(engine, states, "retrying")
    assert "unreachable" in engine.error and "retrying" in engine.error
    with pytest.raises(Exception, match="unreachable"):
        engine.submit(GenerateRequest(prefix="x")).result(timeout=5)
    fake = FakeServer(port=port)
    try:
        wait_for(engine, states, "ready", timeout=30)
        assert states[:2] == ["loading", "retrying"]
        out = engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20)
        assert out.samples[0].text
    finally:
        engine.close()
        fake.stop()


def test_a_server_that_goes_away_mid_session_is_retried() -> None:
    port = free_port()
    fake = FakeServer(port=port)
    engine, states, _ = start(fake.url)
    wait_for(engine, states, "ready")
    fake.stop()
    with pytest.raises(Exception, match=r"refused|unreachable|ConnectError"):
        engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20)
    wait_for(engine, states, "retrying")
    fake = FakeServer(port=port)
    try:
        wait_for(engine, states, "ready", timeout=30)
        assert engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20).samples
    finally:
        engine.close()
        fake.stop()


def test_echoed_prompt_logprobs_give_scores_without_special_alternatives() -> None:
    fake = FakeServer(model="some-coder", echo=True)
    engine, states, _ = start(fake.url)
    try:
        wait_for(engine, states, "ready")
        assert SCORE in engine.capabilities and MEMBERS not in engine.capabilities
        scores = engine.score("import os\n", "x = y", threading.Event()).result(timeout=20)
        # The echo split "import os\nx = y" on spaces: " os\nx" straddles the context's
        # end and is not scored; " =" and " y" are, at their offsets in the text.
        assert [(s.start, s.end) for s in scores] == [(1, 3), (3, 5)]
        assert all(s.top_text == " top" for s in scores)  # never <|endoftext|>
        assert [s.surprisal for s in scores] == [3.0, 4.0]
    finally:
        engine.close()
        fake.stop()


def test_latency_statistics_per_backend(server) -> None:
    engine, states, _ = start(server.url)
    wait_for(engine, states, "ready")
    for _ in range(3):
        engine.submit(GenerateRequest(prefix="x = 1\n")).result(timeout=20)
    summary = next(b for b in latency.snapshot().backends if b["url"] == engine.base)
    gen = summary["operations"]["generate"]
    assert gen["requests"] >= 3 and gen["latency"]["count"] >= 3
    assert gen["latency"]["p50_ms"] is not None and gen["time_to_first_token"]["count"] >= 3
    assert sum(b["count"] for b in gen["latency"]["buckets"]) == gen["latency"]["count"]
    engine.close()


def test_percentiles() -> None:
    assert latency.percentile([], 0.5) is None
    assert latency.percentile([1, 2, 3, 4], 0.5) == pytest.approx(2.5)
    assert latency.percentile(list(range(101)), 0.95) == pytest.approx(95)
