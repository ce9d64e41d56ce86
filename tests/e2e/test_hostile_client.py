"""A hostile client over raw stdio frames (not pytest-lsp's well-behaved client).

Every case of issue 16 on one server process: broken framing, envelopes JSON-RPC
2.0 does not allow, lifecycle violations, wrongly typed params, spoofed responses,
two spellings of one URI. After each case the process is alive, a normal request
still answers, the control document's diagnostics are intact, and nothing was
popped up in the editor (``window/showMessage``); where the specs give an error
code, the response has it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rawclient import RawClient, frame

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS, NOT_INITIALIZED = -32700, -32600, -32602, -32002
CONTROL = "file:///tmp/reason_lsp_hostile/control.py"
CONTROL_TEXT = "def f(x):\n    return (x\n"
CONTROL_DIAGNOSTICS = [('"(" was never closed', 1, 11)]
BROKEN = "x = (\n"  # a document whose one diagnostic shows whether it is open
SLEEPY = '''def nap(x):
    """Sleep a little.

    >>> nap(1)
    1
    """
    import time
    time.sleep(2)
    return x
'''


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawClient]:
    c = RawClient(tmp_path_factory.mktemp("hostile") / "stderr.log")
    c.initialize()
    c.open(CONTROL, CONTROL_TEXT)
    yield c
    code = c.shutdown_and_exit() if c.proc.poll() is None else c.proc.poll()
    c.close()
    assert code == 0, c.server_log()[-4000:]


@pytest.fixture(autouse=True)
def still_serving(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "client" not in request.fixturenames:
        return
    c: RawClient = request.getfixturevalue("client")
    assert c.proc.poll() is None, c.server_log()[-4000:]
    assert c.pull(CONTROL) == CONTROL_DIAGNOSTICS
    assert c.messages("window/showMessage") == []
    assert c.bad_output == []


def body(msg_id: object, uri: str = CONTROL) -> bytes:
    params = {"textDocument": {"uri": uri}}
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/diagnostic",
                       "params": params}).encode()  # fmt: skip


def error_code(response: dict) -> int:
    assert "result" not in response, response
    return response["error"]["code"]


def null_errors(client: RawClient, *frames: bytes, count: int | None = None) -> list[int]:
    """Write ``frames``; the codes of the id-null error responses they get (one each,
    unless ``count`` says otherwise)."""
    seen = len(client.null_id)
    for data in frames:
        client.write(data)
    count = len(frames) if count is None else count
    client.null_id_errors(seen + count, 30)
    return [m["error"]["code"] for m in client.null_id[seen : seen + count]]


def message(value: object) -> bytes:
    return frame(json.dumps(value).encode())


# -- framing ------------------------------------------------------------------------------


def test_a_short_content_length_is_a_parse_error_and_the_reader_resynchronises(
    client: RawClient,
) -> None:
    short = body("short")
    assert null_errors(client, frame(short, len(short) - 7) + frame(body("after-short")),
                       count=1) == [PARSE_ERROR]  # fmt: skip
    assert "result" in client.response("after-short", 30)  # the next frame is read


def test_a_long_content_length_is_cut_where_the_next_frame_starts(client: RawClient) -> None:
    long = body("long")
    client.write(frame(long, len(long) + 20) + frame(body("after-long")))
    assert "result" in client.response("long", 30)
    assert "result" in client.response("after-long", 30)


def test_a_long_content_length_then_silence_is_not_waited_on_forever(client: RawClient) -> None:
    long = body("stalled")
    client.write(frame(long, len(long) + 7))  # and then nothing: the client waits for us
    assert "result" in client.response("stalled", 30)


def test_header_names_are_case_insensitive(client: RawClient) -> None:
    client.write(frame(body("lower"), header=b"content-length"))
    client.write(frame(body("upper"), header=b"CONTENT-LENGTH"))
    typed = body("typed")
    client.write(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n" + frame(typed))
    client.write(b"Content-Length: %d\n\n" % len(typed) + typed.replace(b'"typed"', b'"bare"'))
    for msg_id in ("lower", "upper", "typed", "bare"):
        assert "result" in client.response(msg_id, 30)


def test_junk_between_frames_is_skipped(client: RawClient) -> None:
    client.write(b"garbage without a line end")
    client.write(frame(body("after-junk")))
    client.write(b"\r\n\r\nnot: a frame\r\n\r\n" + b"x" * 100_000 + b"\n")
    client.write(b"Content-Length: twelve\r\n\r\n" + body("bad-length"))
    client.write(frame(body("after-more-junk")))
    assert "result" in client.response("after-junk", 30)
    assert "result" in client.response("after-more-junk", 30)
    assert "bad-length" not in client._responses  # its frame had no valid length


# -- envelopes ----------------------------------------------------------------------------


def test_a_batch_array_gets_invalid_request(client: RawClient) -> None:
    batch = [json.loads(body("in-batch")), {"jsonrpc": "2.0", "method": "x"}]
    client.send(batch)
    assert error_code(client.response("in-batch", 30)) == INVALID_REQUEST
    assert null_errors(client, message([]), message([1, 2])) == [INVALID_REQUEST] * 2


@pytest.mark.parametrize("version", ["missing", "1.0", 2, None])
def test_a_request_without_jsonrpc_2_0_gets_invalid_request(
    client: RawClient, version: object
) -> None:
    message = json.loads(body(f"v-{version}"))
    if version == "missing":
        del message["jsonrpc"]
    else:
        message["jsonrpc"] = version
    client.send(message)
    assert error_code(client.response(f"v-{version}", 30)) == INVALID_REQUEST


def test_a_null_method_gets_invalid_request(client: RawClient) -> None:
    client.send({"jsonrpc": "2.0", "id": "null-method", "method": None, "params": {}})
    assert error_code(client.response("null-method", 30)) == INVALID_REQUEST
    client.send({"jsonrpc": "2.0", "id": "number-method", "method": 7})
    assert error_code(client.response("number-method", 30)) == INVALID_REQUEST


@pytest.mark.parametrize("bad_id", [{}, [1], True, 1.5, None])
def test_an_id_that_is_no_integer_or_string_gets_invalid_request(
    client: RawClient, bad_id: object
) -> None:
    request = json.loads(body("x"))
    request["id"] = bad_id
    assert null_errors(client, message(request)) == [INVALID_REQUEST]


def test_a_notification_sent_with_an_id_is_refused_and_not_applied(client: RawClient) -> None:
    uri = "file:///tmp/reason_lsp_hostile/with-id.py"
    item = {"uri": uri, "languageId": "python", "version": 1, "text": BROKEN}
    client.send({"jsonrpc": "2.0", "id": "open-with-id", "method": "textDocument/didOpen",
                 "params": {"textDocument": item}})  # fmt: skip
    assert error_code(client.response("open-with-id", 30)) == INVALID_REQUEST
    assert client.pull(uri) == []  # not opened


def test_deep_nesting_is_a_parse_error(client: RawClient) -> None:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    nested = frame(b'{"jsonrpc":"2.0","id":"deep","method":"x","params":' + deep + b"}")
    arrays = frame(b"[" * 100_000 + b"]" * 100_000)
    assert null_errors(client, arrays, nested) == [PARSE_ERROR, PARSE_ERROR]


@pytest.mark.parametrize("hostile", [b"42", b'"hello"', b"null", b"[]", b"{}", b"\xff\xfe", b""])
def test_hostile_bodies_are_answered_and_logged_never_shown(
    client: RawClient, hostile: bytes
) -> None:
    expected = PARSE_ERROR if hostile in (b"\xff\xfe", b"") else INVALID_REQUEST
    assert null_errors(client, frame(hostile)) == [expected]


def test_a_spoofed_response_with_an_in_flight_id_is_dropped(client: RawClient) -> None:
    uri = "file:///tmp/reason_lsp_hostile/sleepy.py"
    client.open(uri, SLEEPY)
    position = {"line": 0, "character": 5}
    msg_id = client.request(
        "workspace/executeCommand",
        {"command": "reasonLsp.verify", "arguments": [{"uri": uri, "position": position}]},
    )
    time.sleep(0.3)  # let it start; the spoof must not end it
    client.send({"jsonrpc": "2.0", "id": msg_id, "result": {"spoofed": True}})
    client.send({"jsonrpc": "2.0", "id": "never-sent", "error": {"code": 1, "message": "x"}})
    answer = client.response(msg_id, 60)
    assert answer["result"]["total"] == 1, answer  # the real answer, not the spoof
    client.notifications.clear()  # verify reports its result by showMessage: not hostile


def test_cancel_request_with_an_object_id_is_logged(client: RawClient) -> None:
    client.notify("$/cancelRequest", {"id": {}})
    client.notify("$/cancelRequest", {"id": "no-such-request"})
    client.notify("$/cancelRequest", None)


def test_a_numeric_language_id_is_rejected(client: RawClient) -> None:
    uri = "file:///tmp/reason_lsp_hostile/numeric.py"
    item = {"uri": uri, "languageId": 5, "version": 1, "text": BROKEN}
    client.notify("textDocument/didOpen", {"textDocument": item})
    assert client.pull(uri) == []  # rejected whole: not opened


def test_a_did_change_with_a_number_for_text_is_rejected_whole(client: RawClient) -> None:
    ident = {"uri": CONTROL, "version": 90}
    client.notify(
        "textDocument/didChange", {"textDocument": ident, "contentChanges": [{"text": 5}]}
    )
    fine = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "text": "# edited\n"}  # fmt: skip
    client.notify("textDocument/didChange",
                  {"textDocument": ident, "contentChanges": [fine, {"text": None}]})  # fmt: skip
    bad_range = {"range": {"start": {"line": "0", "character": 0},
                           "end": {"line": 0, "character": 0}}, "text": "x"}  # fmt: skip
    client.notify("textDocument/didChange", {"textDocument": ident, "contentChanges": [bad_range]})
    # The fixture's check: still CONTROL_TEXT's one diagnostic, at the same place.


def test_one_file_under_two_uri_spellings_is_one_document(client: RawClient) -> None:
    quoted = "file:///tmp/reason_lsp_hostile/al%41s.py"
    plain = "file:///tmp/reason_lsp_hostile/alAs.py"
    client.open(quoted, "a = 1\n")
    client.open(plain, BROKEN)  # the same file again: replaces it
    assert client.pull(quoted) == client.pull(plain) == [('"(" was never closed', 0, 4)]
    span = {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 5}}
    ident = {"uri": quoted, "version": 3}
    changes = [{"range": span, "text": "1"}]
    client.notify("textDocument/didChange", {"textDocument": ident, "contentChanges": changes})
    assert client.pull(plain) == []  # the edit through one spelling shows through the other
    client.notify("textDocument/didClose", {"textDocument": {"uri": plain}})
    client.open(quoted, BROKEN, version=4)  # closed under both: it opens afresh
    assert client.pull(plain) == [('"(" was never closed', 0, 4)]
    client.notify("textDocument/didClose", {"textDocument": {"uri": quoted}})
    assert client.pull(plain) == client.pull(quoted) == []


@pytest.mark.parametrize("arguments", ["missing", None, [], [5], [{"uri": 5}]])
def test_execute_command_with_bad_arguments_gets_invalid_params(
    client: RawClient, arguments: object
) -> None:
    params: dict = {"command": "reasonLsp.verify"}
    if arguments != "missing":
        params["arguments"] = arguments
    assert error_code(client.call("workspace/executeCommand", params, 30)) == INVALID_PARAMS


def test_bad_params_get_invalid_params(client: RawClient) -> None:
    answer = client.call("textDocument/diagnostic", {"textDocument": {"uri": 5}}, 30)
    assert error_code(answer) == INVALID_PARAMS
    assert error_code(client.call("textDocument/diagnostic", None, 30)) == INVALID_PARAMS


def test_a_second_initialize_is_refused_and_changes_nothing(client: RawClient) -> None:
    answer = client.call("initialize", {"processId": None, "rootUri": None, "capabilities": {
        "general": {"positionEncodings": ["utf-8"]}}})  # fmt: skip
    assert error_code(answer) == INVALID_REQUEST
    # Still UTF-16 (the fixture's check pulls the control document with its columns).


# -- the lifecycle, on servers of their own ---------------------------------------------


def test_requests_before_initialize_get_server_not_initialized(tmp_path: Path) -> None:
    c = RawClient(tmp_path / "stderr.log")
    try:
        assert error_code(c.call("textDocument/diagnostic", {"textDocument": {"uri": CONTROL}},
                                 30)) == NOT_INITIALIZED  # fmt: skip
        assert error_code(c.call("shutdown", None, 30)) == NOT_INITIALIZED
        c.open(CONTROL, CONTROL_TEXT)  # a notification before initialize: dropped
        assert "result" in c.initialize()
        assert c.pull(CONTROL) == []  # that didOpen was not applied
        assert c.shutdown_and_exit() == 0
    finally:
        c.close()


def test_requests_after_shutdown_get_invalid_request(tmp_path: Path) -> None:
    c = RawClient(tmp_path / "stderr.log")
    try:
        c.initialize()
        c.open(CONTROL, CONTROL_TEXT)
        assert c.call("shutdown", None, 30)["result"] is None
        assert error_code(c.call("textDocument/diagnostic", {"textDocument": {"uri": CONTROL}},
                                 30)) == INVALID_REQUEST  # fmt: skip
        assert error_code(c.call("shutdown", None, 30)) == INVALID_REQUEST
        c.notify("exit")
        assert c.proc.wait(60) == 0
    finally:
        c.close()


@pytest.mark.slow
def test_a_ten_megabyte_line_switches_model_features_off_for_that_document(
    tmp_path: Path, memo_model: Path
) -> None:
    c = RawClient(tmp_path / "stderr.log")
    try:
        c.initialize({"reasonLsp": {"model": str(memo_model)}})
        c.wait_for(lambda: [m for m in c.messages("reasonLsp/status")
                            if m["params"]["state"] == "ready"], 120)  # fmt: skip
        big = "file:///tmp/reason_lsp_hostile/big.py"
        c.open(big, "x = '" + "a" * 10_485_760 + "'\ny = (\n")
        c.open(CONTROL, CONTROL_TEXT)
        inline = {"textDocument": {"uri": CONTROL}, "position": {"line": 1, "character": 13},
                  "context": {"triggerKind": 1}}  # fmt: skip
        assert "result" in c.call("textDocument/inlineCompletion", inline, 60)
        assert c.pull(big) == [('"(" was never closed', 1, 4)]  # syntax still works
        told = c.wait_for(lambda: c.messages("window/showMessage"), 30)
        assert "model features are off" in told[0]["params"]["message"]
        on_big = {**inline, "textDocument": {"uri": big}, "position": {"line": 1, "character": 5}}
        assert c.call("textDocument/inlineCompletion", on_big, 60)["result"] == {"items": []}
        assert len(c.messages("window/showMessage")) == 1  # told once
        assert c.shutdown_and_exit() == 0
    finally:
        c.close()
