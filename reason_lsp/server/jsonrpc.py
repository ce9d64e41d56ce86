"""What a JSON-RPC message must look like before any handler sees it (pure).

* :func:`parse`: a frame's body to JSON; anything unparseable (bad UTF-8, bad JSON,
  nesting deeper than the interpreter's recursion limit, a 5,000-digit number) is a
  ``ParseError`` (-32700).
* :func:`check`: the envelope (JSON-RPC 2.0: an object, ``"jsonrpc": "2.0"``, an
  integer or string ``id``, a string ``method``) and the LSP lifecycle: requests
  before ``initialize`` get ``ServerNotInitialized`` (-32002), a second
  ``initialize`` and every request after ``shutdown`` get ``InvalidRequest``
  (-32600), notifications there are dropped (except ``exit``), and so is a request
  method sent without an id. A notification method sent with an id is an invalid
  request.
* :func:`strict_converter`: lsprotocol's converter, but a string field takes only a
  string, an integer field only an integer, a boolean only ``true``/``false``
  (cattrs would turn ``5`` into ``"5"`` and ``"false"`` into ``True``), so a
  malformed message is rejected whole instead of silently coerced.

A :class:`Rejection` says what to answer (``answer``) or only log.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Literal

import attrs
import cattrs
from lsprotocol import types
from pygls.protocol import default_converter

PARSE_ERROR = types.ErrorCodes.ParseError.value  # -32700
INVALID_REQUEST = types.ErrorCodes.InvalidRequest.value  # -32600
INVALID_PARAMS = types.ErrorCodes.InvalidParams.value  # -32602
NOT_INITIALIZED = types.ErrorCodes.ServerNotInitialized.value  # -32002

Lifecycle = Literal["new", "running", "shut down"]
MessageId = int | str


@dataclass(frozen=True)
class Rejection:
    """A message turned away: the error to answer with, or (``answer`` False) only log."""

    code: int
    message: str
    id: MessageId | None = None  # None: answer with "id": null
    answer: bool = True


_JSON_NAMES = {int: "a number", float: "a number", str: "a string", bool: "a boolean",
               type(None): "null", list: "an array"}  # fmt: skip


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def parse(body: bytes) -> tuple[Any, Rejection | None]:
    """The JSON value of ``body``, or a ParseError rejection."""
    try:
        return json.loads(body), None
    except RecursionError:
        return None, Rejection(PARSE_ERROR, "Parse error: the message is nested too deeply")
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        return None, Rejection(PARSE_ERROR, f"Parse error: {exc}")


def is_notification_method(method: str) -> bool:
    """Whether LSP defines ``method`` as a notification (it must not carry an id)."""
    message_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
    return attrs.has(message_type) and "id" not in attrs.fields_dict(message_type)


def is_request_method(method: str) -> bool:
    message_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
    return attrs.has(message_type) and "id" in attrs.fields_dict(message_type)


def check(data: Any, lifecycle: Lifecycle) -> Rejection | None:
    """Why the message ``data`` must not reach a handler, or None when it may."""
    if not isinstance(data, dict):
        kind = "an empty batch" if data == [] else _JSON_NAMES.get(type(data), "something else")
        return Rejection(INVALID_REQUEST, f"Invalid Request: expected an object, got {kind}")
    has_id = "id" in data
    msg_id = data.get("id")
    if has_id and not valid_id(msg_id):
        return Rejection(INVALID_REQUEST, "Invalid Request: the id must be an integer or a string")
    answer_id = msg_id if has_id else None
    if data.get("jsonrpc") != "2.0":
        got = json.dumps(data["jsonrpc"]) if "jsonrpc" in data else "nothing"
        return Rejection(INVALID_REQUEST, f'Invalid Request: "jsonrpc" must be "2.0", got {got}',
                         answer_id)  # fmt: skip
    if "method" not in data:
        if not has_id or ("result" in data) == ("error" in data):
            return Rejection(INVALID_REQUEST, "Invalid Request: neither a request nor a response",
                             answer_id, answer=has_id and "result" not in data)  # fmt: skip
        return None  # a response: the protocol checks that it answers one of ours
    method = data["method"]
    if not isinstance(method, str):
        return Rejection(INVALID_REQUEST, "Invalid Request: the method must be a string", answer_id)
    return _lifecycle(method, has_id, answer_id, lifecycle)


def _lifecycle(
    method: str, has_id: bool, msg_id: MessageId | None, lifecycle: Lifecycle
) -> Rejection | None:
    if method == types.EXIT and not has_id:
        return None
    if has_id and is_notification_method(method):
        return Rejection(INVALID_REQUEST, f"Invalid Request: {method} is a notification and "
                         "takes no id; it was not applied", msg_id)  # fmt: skip
    if not has_id and is_request_method(method):
        return Rejection(INVALID_REQUEST, f"{method} is a request but came without an id; dropped",
                         answer=False)  # fmt: skip
    if lifecycle == "shut down":
        return Rejection(INVALID_REQUEST, f"Invalid Request: the server is shut down ({method})",
                         msg_id, answer=has_id)  # fmt: skip
    if lifecycle == "new" and method != types.INITIALIZE:
        return Rejection(NOT_INITIALIZED, f"Server not initialized: {method} before initialize",
                         msg_id, answer=has_id)  # fmt: skip
    if lifecycle == "running" and method == types.INITIALIZE:
        return Rejection(INVALID_REQUEST, "Invalid Request: initialize may only be sent once; "
                         "nothing was changed", msg_id, answer=has_id)  # fmt: skip
    return None


# -- strict structuring --------------------------------------------------------------------


def _strict(kind: type, name: str) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got a boolean")
        if not isinstance(value, kind):
            raise TypeError(f"expected {name}, got {type(value).__name__}")
        return value

    return hook


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _enum_hook(cls: type[enum.Enum]) -> Any:
    def hook(value: Any, _: Any) -> Any:
        base = str if issubclass(cls, str) else int if issubclass(cls, int) else object
        if isinstance(value, bool) or not isinstance(value, base):
            raise TypeError(f"expected a {cls.__name__}, got {type(value).__name__}")
        return cls(value)

    return hook


def strict_converter() -> cattrs.Converter:
    """pygls's converter with strict primitives (see the module docstring)."""
    converter = default_converter()
    # Enums that are also str/int would otherwise fall under the str/int hooks below.
    for value in vars(types).values():
        if isinstance(value, type) and issubclass(value, enum.Enum):
            converter.register_structure_hook(value, _enum_hook(value))
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(float, _number)
    ident = _strict(int | str, "an integer or a string")  # type: ignore[arg-type]
    converter.register_structure_hook(int | str, ident)

    def optional_ident(value: Any, t: Any) -> Any:
        return None if value is None else ident(value, t)

    converter.register_structure_hook(int | str | None, optional_ident)
    converter.register_structure_hook(
        types.LanguageKind | str, _strict(str, "a language id string")
    )
    return converter
