"""An engine backed by an OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama).

Completions go to ``POST {url}/v1/completions`` with the prefix as ``prompt``
and the text after the cursor as ``suffix`` (the server applies its model's FIM
template), streamed, so the same cancel flag and stop rules as the local engine
apply between chunks and a cancelled request closes its connection. Requests
run one at a time on the engine's worker, like the local model.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future

from reason_lsp.engine import (
    Cancelled,
    EngineConfig,
    EngineInfo,
    EngineUnavailable,
    GenerateRequest,
    Generation,
    Sample,
)
from reason_lsp.engine.worker import Worker

TIMEOUT_S = 30.0


class RemoteEngine:
    def __init__(
        self,
        config: EngineConfig,
        on_state: Callable[[str, str], None] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.base = config.url.rstrip("/").removesuffix("/v1")
        self.state = "loading"
        self.error = ""
        self._on_state = on_state or (lambda state, detail: None)
        self._log = log or (lambda msg: None)
        self._worker = Worker("reason-lsp-remote")
        self._info: EngineInfo | None = None
        self.model = ""

    @property
    def info(self) -> EngineInfo | None:
        return self._info

    @property
    def cancelled_jobs(self) -> int:
        return self._worker.cancelled

    def start(self) -> None:
        self._on_state("loading", f"Connecting to {self.config.url or '(no url)'}…")
        self._worker.start(self._connect)

    def _connect(self) -> None:
        try:
            if not self.base.startswith(("http://", "https://")):
                raise ValueError("reasonLsp.openai.url must be an http(s) URL for backend=openai")
            with urllib.request.urlopen(f"{self.base}/v1/models", timeout=TIMEOUT_S) as resp:
                models = [m.get("id", "") for m in json.load(resp).get("data", [])]
            model = self.config.remote_model or (models[0] if models else "")
            self._info = EngineInfo(model, "remote", "n/a", "server", "openai")
            self.model = model
            self.state = "ready"
            self._log(f"remote model {model!r} at {self.base}")
            self._on_state("ready", f"remote {model} at {self.base}")
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            self.state, self.error = "error", f"cannot reach {self.config.url}: {exc}"
            self._log(self.error)
            self._on_state("error", self.error)

    def submit(self, request: GenerateRequest) -> Future:
        if self.state != "ready":
            future: Future = Future()
            future.set_exception(EngineUnavailable(self.error or "still connecting"))
            return future
        return self._worker.submit(
            lambda: self._complete(request), request.cancel_event, request.priority, request.key
        )

    def _complete(self, req: GenerateRequest) -> Generation:
        samples = []
        started = time.perf_counter()
        for n in range(max(1, req.samples)):
            samples.append(self._one(req, n))
        ms = (time.perf_counter() - started) * 1000
        tokens = sum(s.tokens for s in samples)
        return Generation(samples, 0, 0, 0.0, ms, tokens)

    def _one(self, req: GenerateRequest, n: int) -> Sample:
        body = {
            "model": self.model,
            "prompt": req.header + req.prefix,
            "max_tokens": req.max_new_tokens,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "stream": True,
        }
        if req.suffix:
            body["suffix"] = req.suffix
        if req.seed is not None:
            body["seed"] = req.seed + n
        http = urllib.request.Request(
            f"{self.base}/v1/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        text, chunks, finish = "", 0, "length"
        try:
            with urllib.request.urlopen(http, timeout=TIMEOUT_S) as resp:
                for raw in resp:
                    if req.cancelled:
                        raise Cancelled()
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    choice = json.loads(data)["choices"][0]
                    text += choice.get("text", "")
                    chunks += 1
                    if choice.get("finish_reason"):
                        finish = "eos" if choice["finish_reason"] == "stop" else "length"
                    cut = req.stop(text) if req.stop else None
                    if cut is not None:
                        return Sample(text[:cut], 0.0, chunks, "stop")
        except urllib.error.URLError as exc:
            raise EngineUnavailable(f"{self.base}: {exc}") from exc
        return Sample(text, 0.0, chunks, finish)

    def close(self) -> None:
        self._worker.close()
