"""A real engine for the openai backend's tests: llama.cpp's ``llama-server`` on our model.

``make test-engine`` runs this folder. The session builds ``llama-server`` from the
llama.cpp sources vendored in llama-cpp-python's sdist (``scripts/build-llama-server.sh``,
cached outside the repository and rebuilt only when missing), converts
``models/reason-code-small`` to GGUF (``scripts/convert-to-gguf.py``, cached the same
way) and starts the server on 127.0.0.1 with one thread (``-t 1``: with two, llama.cpp
stalls when another process takes a core). :class:`Proxy` sits between the language
server and llama.cpp where a test needs to see or cut what goes over the wire.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "reason-code-small"
ALIAS = "reason-code-small"
#: llama-server's context: the model's trained window, as the local engine uses it.
CTX = json.loads((MODEL / "config.json").read_text())["max_position_embeddings"]


@pytest.fixture(scope="session", autouse=True)
def stats_dir(tmp_path_factory) -> Path:
    """The language servers' statistics snapshots go here, not into the user's cache."""
    folder = tmp_path_factory.mktemp("stats")
    os.environ["REASON_LSP_STATS_DIR"] = str(folder)
    return folder


def _script_output(cmd: list[str], what: str) -> Path:
    """Run a build step (long on a fresh machine); its last output line is the path."""
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{what} failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def llama_server_bin() -> Path:
    env_pip = f"{sys.executable} -m pip"
    os.environ.setdefault("PIP", env_pip)
    return _script_output(["bash", "scripts/build-llama-server.sh"], "building llama-server")


@pytest.fixture(scope="session")
def gguf_model() -> Path:
    return _script_output([sys.executable, "scripts/convert-to-gguf.py"], "converting to GGUF")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """One ``llama-server`` process; :meth:`kill` and :meth:`start` keep its port."""

    def __init__(self, binary: Path, model: Path, log_dir: Path) -> None:
        self.binary, self.model, self.log_dir = binary, model, log_dir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root}/v1"

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"llama-server-{self.starts}.log", "wb")  # noqa: SIM115
        cmd = [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "-t", "1", "-tb", "1", "-c", str(CTX), "-np", "1",
               "--alias", ALIAS, "--metrics", "--slots", "--no-webui"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited: see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.root}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("llama-server did not become healthy")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def slots(self) -> list[dict]:
        return httpx.get(f"{self.root}/slots", timeout=10).json()

    def tokens_predicted(self) -> float:
        for line in httpx.get(f"{self.root}/metrics", timeout=10).text.splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return float(line.split()[-1])
        return 0.0


@pytest.fixture(scope="session")
def llama(llama_server_bin: Path, gguf_model: Path, tmp_path_factory) -> LlamaServer:
    server = LlamaServer(llama_server_bin, gguf_model, tmp_path_factory.mktemp("llama-logs"))
    server.start()
    yield server
    server.kill()


class Proxy:
    """A logging proxy in front of the engine: every request body it forwarded, and
    whether its client hung up on a stream before the engine had finished it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.bodies: list[dict] = []
        self.hung_up = threading.Event()
        self.streaming = threading.Event()
        self.chunks = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw:
                    with contextlib.suppress(ValueError):
                        proxy.bodies.append(json.loads(raw))
                headers = {"Content-Type": "application/json"}
                with (
                    httpx.Client(timeout=60) as up,
                    up.stream(
                        method, proxy.upstream + self.path, content=raw or None, headers=headers
                    ) as r,
                ):
                    self.send_response(r.status_code)
                    self.send_header("Content-Type", r.headers.get("content-type", ""))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    stream = "event-stream" in r.headers.get("content-type", "")
                    if stream:
                        proxy.streaming.set()
                    for chunk in r.iter_raw():
                        try:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            proxy.chunks += stream
                        except OSError:
                            proxy.hung_up.set()  # closing ``up`` now hangs up on the engine
                            return
                self.close_connection = True

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def prompts(self) -> list[str]:
        return [b["prompt"] for b in self.bodies if isinstance(b.get("prompt"), str)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(llama: LlamaServer):
    p = Proxy(llama.root)
    yield p
    p.close()
