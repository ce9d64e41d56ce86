"""The openai backend through the LSP, against llama.cpp serving our model: fill in the
middle, cancellation, redaction, the engine killed and restarted, unlikely code, stats."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest_lsp
from conftest import Proxy, free_port
from helpers import SERVER_COMMAND, expect_notification
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

URI = "file:///tmp/reason_lsp_engine/main.py"
SECRET_KEY = "AKIAQYLPMN5HHHFPZAM2"
SECRET_PASSWORD = "c0rrect-h0rse-battery"


async def start(client: LanguageClient, url: str, **settings: object) -> list:
    """Initialize against the engine at ``url``; the ``reasonLsp/status`` states seen."""
    statuses: list = []
    ready: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.feature("reasonLsp/status")
    def on_status(ls: LanguageClient, params: object) -> None:
        statuses.append(params)
        if getattr(params, "state", None) in ("ready", "error") and not ready.done():
            ready.set_result(params)

    # This test keeps the registrations: it replaces the accept-all default (conftest).

    client.protocol.fm.features.pop(types.CLIENT_REGISTER_CAPABILITY, None)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(ls: LanguageClient, params: object) -> None:
        return None  # the workspace feature's file watchers: accepted, not needed here

    options = {"backend": "openai", "openai": {"url": url}, **settings}
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"reasonLsp": options},
        )
    )
    status = await asyncio.wait_for(ready, 120)
    assert status.state == "ready", status
    return statuses


CONFIG = ClientServerConfig(server_command=SERVER_COMMAND)
THRESHOLD = 6.0  # the unlikely-code test's surprisal threshold, for both engines


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, proxy: Proxy):  # type: ignore[no-untyped-def]
    lsp_client.statuses = await start(lsp_client, proxy.url, maxNewTokens=24)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def long_client(lsp_client: LanguageClient, proxy: Proxy):  # type: ignore[no-untyped-def]
    """Long answers (up to the model's context), for cancellation."""
    await start(lsp_client, proxy.url, maxNewTokens=480, contextTokens=16)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def scoring_client(lsp_client: LanguageClient, proxy: Proxy):  # type: ignore[no-untyped-def]
    await start(lsp_client, proxy.url, diagnostics={"threshold": THRESHOLD})
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    item = types.TextDocumentItem(uri, "python", version, text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(item))


def inline(text: str, offset: int, uri: str = URI) -> types.InlineCompletionParams:
    line = text.count("\n", 0, offset)
    pos = types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=pos,
        context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
    )


async def complete(client: LanguageClient, text: str, offset: int, uri: str = URI) -> str:
    result = await client.text_document_inline_completion_async(inline(text, offset, uri))
    items = result.items if hasattr(result, "items") else result or []
    return items[0].insert_text if items else ""


def plain(value):
    """A response as JSON-like data (pygls hands results over as named tuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


async def backend_stats(client: LanguageClient) -> dict:
    return plain(await client.protocol.send_request_async("reasonLsp/backendStats", None))


async def wait_state(statuses: list, since: int, state: str, timeout: float):
    """The first ``reasonLsp/status`` with ``state`` after the first ``since`` seen."""
    for _ in range(int(timeout * 10)):
        found = [s for s in statuses[since:] if s.state == state]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {state!r} status; saw {[s.state for s in statuses[since:]]}")


# A suffix-only name: the right middle returns what the code after the cursor defines.
#: Without the suffix the model invents a helper; with it, it returns the parameter as
#: the suffix's function does.
FIM_PREFIX = "def main(n):\n    return "
FIM_SUFFIX = "\n\n\ndef fibonacci_number(n):\n    return n\n"


async def test_inline_completion_fills_in_the_middle(client: LanguageClient, proxy: Proxy) -> None:
    text = FIM_PREFIX + FIM_SUFFIX
    open_doc(client, text)
    with_suffix = await complete(client, text, len(FIM_PREFIX))
    sent = proxy.prompts()[-1]
    # Our model's SPM template, as text: the suffix is in the prompt, before the prefix.
    assert sent.startswith("<fim_prefix><fim_suffix>") and "fibonacci_number" in sent
    # ... and the prefix's last space healed: the answer spells it out first.
    assert sent.endswith("<fim_middle>" + FIM_PREFIX.rstrip(" "))
    alone = "file:///tmp/reason_lsp_engine/alone.py"
    open_doc(client, FIM_PREFIX, alone)
    without = await complete(client, FIM_PREFIX, len(FIM_PREFIX), alone)
    assert "<fim_suffix>" not in proxy.prompts()[-1]
    print(f"\nwith the suffix: {with_suffix!r}; without: {without!r}")
    assert with_suffix and with_suffix != without
    assert with_suffix.strip() == "n"  # what the suffix's function returns


async def test_cancellation_closes_the_stream(long_client: LanguageClient, llama, proxy) -> None:
    client = long_client
    text = "def f(x):\n    "
    open_doc(client, text)
    before = llama.tokens_predicted()
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, inline(text, len(text)), msg_id="long-one"
        )
    )
    assert await asyncio.get_running_loop().run_in_executor(None, proxy.streaming.wait, 60)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="long-one"))
    try:
        await asyncio.wait_for(pending, 60)
    except Exception as exc:  # the cancelled request's error
        assert "cancel" in str(exc).lower()
    assert await asyncio.get_running_loop().run_in_executor(None, proxy.hung_up.wait, 30)
    # The engine stopped decoding: far fewer tokens than were asked for.
    for _ in range(100):
        slot = llama.slots()[0]
        if not slot.get("is_processing"):
            break
        await asyncio.sleep(0.1)
    decoded = llama.tokens_predicted() - before
    print(f"\ncancelled after {proxy.chunks} streamed chunks; the engine decoded {decoded:.0f}")
    assert not slot["is_processing"] and decoded < 400


async def test_redaction_is_checked_in_what_the_engine_received(
    client: LanguageClient, proxy: Proxy
) -> None:
    text = (f'AWS_ACCESS_KEY_ID = "{SECRET_KEY}"\npassword = "{SECRET_PASSWORD}"\n\n\n'
            "def connect(host):\n    return ")  # fmt: skip
    open_doc(client, text)
    await complete(client, text, len(text))
    # What llama.cpp received, as the proxy in front of it forwarded it.
    received = [p for p in proxy.prompts() if "def connect(host):" in p]
    assert received and all('AWS_ACCESS_KEY_ID = "REDACTED"' in p for p in received)
    assert all('password = "REDACTED"' in p for p in received)
    wire = json.dumps(proxy.bodies)
    assert SECRET_KEY not in wire and SECRET_PASSWORD not in wire
    assert (await backend_stats(client))["backends"][0]["redactions"] >= 2


async def test_engine_killed_then_restarted_completions_resume(
    client: LanguageClient, llama, proxy: Proxy
) -> None:
    text = FIM_PREFIX + FIM_SUFFIX
    # A new document each time: the same position in the same text would be answered
    # from the type-ahead cache without asking the engine.
    uris = [f"file:///tmp/reason_lsp_engine/k{i}.py" for i in range(3)]
    for uri in uris:
        open_doc(client, text, uri)
    assert await complete(client, text, len(FIM_PREFIX), uris[0])
    seen = len(client.statuses)
    llama.kill()
    assert await complete(client, text, len(FIM_PREFIX), uris[1]) == ""  # paused, no error
    status = await wait_state(client.statuses, seen, "retrying", 60)
    assert "unreachable" in status.message and "retrying" in status.message
    # Syntax diagnostics go on while the engine is away.
    broken = "file:///tmp/reason_lsp_engine/broken.py"
    diags = await expect_notification(
        client, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
        lambda: open_doc(client, "def f(:\n    pass\n", broken), lambda p: p.uri == broken,
    )  # fmt: skip
    assert any(d.code in ("syntax-error", "missing-token") for d in diags.diagnostics)
    seen = len(client.statuses)
    await asyncio.get_running_loop().run_in_executor(None, llama.start)
    await wait_state(client.statuses, seen, "ready", 120)  # by itself: nobody asked
    assert (await complete(client, text, len(FIM_PREFIX), uris[2])).strip() == "n"
    backend = (await backend_stats(client))["backends"][0]
    assert backend["outages"] >= 1 and backend["operations"]["generate"]["errors"] >= 1


MUTANT = Path(__file__).with_name("mutant.py.txt")


async def test_unlikely_code_from_remote_logprobs_matches_the_local_model(
    scoring_client: LanguageClient, tmp_path: Path
) -> None:
    client = scoring_client
    threshold = THRESHOLD
    text = MUTANT.read_text()
    uri = "file:///tmp/reason_lsp_engine/mutant.py"
    published = await expect_notification(
        client, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, lambda: open_doc(client, text, uri),
        lambda p: p.uri == uri,
    )  # fmt: skip
    remote = [d for d in published.diagnostics if d.code == "unlikely-code"]
    for _ in range(5):  # syntax at once, then the model's after its scoring
        if remote:
            break
        published = await expect_notification(
            client, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, None, lambda p: p.uri == uri, 300
        )
        remote = [d for d in published.diagnostics if d.code == "unlikely-code"]
    path = tmp_path / "mutant.py"
    path.write_text(text)
    check = [sys.executable, "-m", "reason_lsp", "check", str(path), "--format", "json",
             "--threshold", str(threshold), "--no-cache"]  # fmt: skip
    done = subprocess.run(check, capture_output=True, text=True, timeout=600)
    local = [d for d in json.loads(done.stdout) if d["code"] == "unlikely-code"]

    def key(r, message: str) -> tuple:
        return (r.start.line, r.start.character, r.end.line, r.end.character, message)

    def local_key(d: dict) -> tuple:
        s, e = d["range"]["start"], d["range"]["end"]
        return (s["line"], s["character"], e["line"], e["character"], d["message"])

    warnings_remote = {key(d.range, d.message) for d in remote
                       if d.severity == types.DiagnosticSeverity.Warning}  # fmt: skip
    warnings_local = {local_key(d) for d in local if d["severity"] == "warning"}
    print(f"\nremote warnings {sorted(warnings_remote)}\nlocal warnings {sorted(warnings_local)}")
    assert warnings_local and warnings_remote == warnings_local


def test_stats_subcommand_asks_a_running_server(llama, tmp_path: Path) -> None:
    """``reason-lsp stats --port N`` against ``reason-lsp --tcp --port N``, whose settings
    come from the workspace's ``[tool.reason-lsp]`` (the folder the command runs in)."""
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.reason-lsp]\nbackend = "openai"\n"openai.url" = "{llama.url}"\n'
    )
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "reason_lsp", "--tcp", "--port", str(port)],
                              cwd=tmp_path)  # fmt: skip
    try:
        for _ in range(200):
            try:
                socket_ok = subprocess.run(
                    [sys.executable, "-m", "reason_lsp", "stats", "--port", str(port),
                     "--format", "json", "--save", str(tmp_path / "snap.json")],
                    cwd=tmp_path, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                continue
            if socket_ok.returncode == 0:
                break
            time.sleep(0.2)  # not listening yet
        assert socket_ok.returncode == 0, socket_ok.stderr
        snapshot = json.loads(socket_ok.stdout)
        assert snapshot["pid"] == server.pid
        assert isinstance(snapshot["backends"], list)
        print(f"\nreason-lsp stats --port: {snapshot['backends']}")
        saved = str(tmp_path / "snap.json")
        printed = subprocess.run([sys.executable, "-m", "reason_lsp", "stats", saved],
                                 capture_output=True, text=True)  # fmt: skip
        assert printed.returncode == 0 and f"server pid {server.pid}" in printed.stdout
    finally:
        server.wait(60)
