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
from concurrent.futures import Future

from reason_lsp.engine.api import (
    GENERATE,
    Cancelled,
    EngineConfig,
    EngineInfo,
    EngineUnavailable,
    GenerateRequest,
    Generation,
    Sample,
)
from reason_lsp.engine.base import WorkerEngine

TIMEOUT_S = 30.0


class RemoteEngine(WorkerEngine):
    """Generation only: the OpenAI completions API gives no per-token scores or top-k
    identifiers here, so ``score`` and ``members`` are :class:`Unsupported`."""

    CAPABILITIES = frozenset({GENERATE})
    WORKER_NAME = "reason-lsp-remote"

    def __init__(self, config: EngineConfig, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self.base = config.url.rstrip("/").removesuffix("/v1")
        self.model = ""

    def unsupported_reason(self, capability: str) -> str:
        what = {"score": "unlikely-code diagnostics", "members": "member completion after '.'"}
        return (
            f"{what.get(capability, capability)} need the model's log-probabilities, "
            "which the openai backend does not provide"
        )

    def _starting_message(self) -> str:
        return f"Connecting to {self.config.url or '(no url)'}…"

    def _setup(self) -> EngineInfo:
        try:
            if not self.base.startswith(("http://", "https://")):
                raise ValueError("reasonLsp.openai.url must be an http(s) URL for backend=openai")
            with urllib.request.urlopen(f"{self.base}/v1/models", timeout=TIMEOUT_S) as resp:
                models = [m.get("id", "") for m in json.load(resp).get("data", [])]
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise ConnectionError(f"cannot reach {self.config.url}: {exc}") from exc
        self.model = self.config.remote_model or (models[0] if models else "")
        self._log(f"remote model {self.model!r} at {self.base}")
        return EngineInfo(self.model, "remote", "n/a", "server", "openai")

    def _ready_message(self, info: EngineInfo) -> str:
        return f"remote {info.model} at {self.base}"

    def submit(self, request: GenerateRequest) -> Future:
        return self.queue(
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
