"""The kept HTTP client to an OpenAI-compatible model server (httpx, one connection pool).

One :class:`Client` per engine keeps its connections alive between requests, sends
the API key from the environment variable the settings name (the key itself is never
in a setting or a log), and retries with exponential backoff what is worth retrying:
a refused or reset connection, 429 and 5xx answers (honouring ``Retry-After``), but
never a request that was cancelled, and a stream only before its first byte.

Streams (server-sent events) are read line by line; the request's cancel flag is
watched from a helper thread that closes the response, so a cancelled or superseded
request hangs up at once, even while the server is still thinking about its first
token, and the engine stops decoding.

Errors: :class:`BackendDown` when the server cannot be reached (the engine then
reports "backend unreachable, retrying"), :class:`BackendError` when it answered
with an error that retrying does not fix.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from reason_lsp.engine.api import Cancelled, EngineUnavailable

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Seconds before each retry (jittered); a longer ``Retry-After`` is capped at MAX_WAIT_S.
BACKOFF_S = (0.25, 0.75)
MAX_WAIT_S = 5.0


class BackendDown(EngineUnavailable):
    """The server cannot be reached (refused, reset, timed out, or 5xx after retries)."""


class BackendError(EngineUnavailable):
    """The server answered with an error (a bad request, a wrong key, a missing model)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def api_key(env_name: str) -> str:
    """The key in the environment variable ``env_name`` ("" for none); raises a clear
    error when the setting names a variable that is not set."""
    if not env_name:
        return ""
    value = os.environ.get(env_name, "")
    if not value:
        raise BackendError(
            f"reasonLsp.openai.apiKeyEnv names {env_name}, which is not set in the "
            "language server's environment"
        )
    return value


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]
    return str(data)[:300]


class Client:
    """A pool of kept connections to ``base`` (the server root, without ``/v1``)."""

    def __init__(
        self,
        base: str,
        key: str = "",
        timeout_s: float = 30.0,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.base = base.rstrip("/")
        self._on_retry = on_retry or (lambda: None)
        self._http = httpx.Client(
            base_url=self.base,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            trust_env=False,  # a proxy from the environment must not see the code
        )

    def close(self) -> None:
        self._http.close()

    # -- plain requests ------------------------------------------------------------------

    def get(self, path: str, retries: int = 0) -> Any:
        return self._send("GET", path, None, None, retries)

    def post(self, path: str, body: dict[str, Any], cancel: threading.Event | None = None,
             retries: int = len(BACKOFF_S)) -> Any:  # fmt: skip
        return self._send("POST", path, body, cancel, retries)

    def _send(self, method: str, path: str, body: Any, cancel, retries: int) -> Any:
        for attempt in range(retries + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                if attempt < retries and self._wait(attempt, None, cancel):
                    continue
                raise BackendDown(f"{self.base}{path}: {type(exc).__name__}: {exc}") from exc
            retry = response.status_code in RETRY_STATUS and attempt < retries
            if retry and self._wait(attempt, response, cancel):
                continue
            return self._json(response, path)
        raise AssertionError("unreachable")

    def _json(self, response: httpx.Response, path: str) -> Any:
        if response.status_code >= 500:
            raise BackendDown(f"{self.base}{path}: HTTP {response.status_code}: "
                              f"{_error_text(response)}")  # fmt: skip
        if response.status_code >= 400:
            raise BackendError(
                f"{self.base}{path}: HTTP {response.status_code}: {_error_text(response)}",
                response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"{self.base}{path}: the answer is not JSON") from exc

    def _wait(self, attempt: int, response: httpx.Response | None, cancel) -> bool:
        """Sleep before retry ``attempt``; False when cancelled meanwhile."""
        delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)] * (0.75 + random.random() / 2)
        if response is not None and response.headers.get("Retry-After", "").isdigit():
            delay = min(MAX_WAIT_S, float(response.headers["Retry-After"]))
        self._on_retry()
        if cancel is None:
            time.sleep(delay)
            return True
        return not cancel.wait(delay)

    # -- streams -------------------------------------------------------------------------

    def stream(
        self, path: str, body: dict[str, Any], cancel: threading.Event,
        retries: int = len(BACKOFF_S),
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """The JSON events of a server-sent-events answer, until ``[DONE]`` or its end.

        Raises :class:`Cancelled` as soon as ``cancel`` is set (the connection is closed,
        so the server stops generating)."""
        for attempt in range(retries + 1):
            if cancel.is_set():
                raise Cancelled()
            request = self._http.build_request("POST", path, json=body)
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if attempt < retries and self._wait(attempt, None, cancel):
                    continue
                if cancel.is_set():
                    raise Cancelled() from exc
                raise BackendDown(f"{self.base}{path}: {type(exc).__name__}: {exc}") from exc
            if response.status_code >= 400:
                response.read()
                response.close()
                retry = response.status_code in RETRY_STATUS and attempt < retries
                if retry and self._wait(attempt, response, cancel):
                    continue
                self._json(response, path)  # raises
            yield from self._events(response, path, cancel)
            return

    def _events(self, response: httpx.Response, path: str, cancel: threading.Event):
        done = threading.Event()

        def hang_up_on_cancel() -> None:
            while not done.is_set():
                if cancel.wait(0.05):
                    response.close()  # unblocks the read below; the server sees the hang-up
                    return

        watcher = threading.Thread(target=hang_up_on_cancel, name="reason-lsp-hangup", daemon=True)
        watcher.start()
        try:
            for line in response.iter_lines():
                if cancel.is_set():
                    raise Cancelled()
                if line.startswith("error:"):
                    raise BackendError(f"{self.base}{path}: {line[6:].strip()[:300]}")
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if isinstance(event, dict) and "error" in event and "choices" not in event:
                    raise BackendError(f"{self.base}{path}: {event['error']}")
                yield event
        except (httpx.TransportError, httpx.StreamClosed) as exc:
            if cancel.is_set():
                raise Cancelled() from exc
            raise BackendDown(f"{self.base}{path}: the stream broke ({exc})") from exc
        finally:
            done.set()
            response.close()
