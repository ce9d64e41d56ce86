"""The completion pipeline's pure core: what to ask the model, and what to keep of its answer.

- :func:`plan` decides the shape from the tree-sitter tree (nothing inside strings
  or comments unless asked, one line mid-line, a block after a line that opens
  one) and builds the prompt: a line-aligned prefix/suffix window under a
  character budget whose start moves in coarse steps, so the model's key/value
  cache survives typing, plus a header of tree-sitter context (imports, the
  enclosing signatures, definitions of names used near the cursor) that fell
  outside the window.
- :func:`stop_rule` says where a generation ends (end of line; end of block by
  indentation).
- :func:`clean` post-processes: strips overlap with the text after the cursor,
  drops unbalanced closers the suffix already has, drops empty or repetitive
  output, and drops a completion that adds a syntax error to the buffer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import tree_sitter

from reason_lsp.engine import GenerateRequest
from reason_lsp.text.positions import encode, point_after, point_at_byte

Mode = Literal["line", "block"]

_STRINGISH = ("string", "comment", "template_string", "raw_string", "char_literal", "heredoc")
_BLOCK_OPENERS = (":", "{", "(", "[", "=>")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
CHARS_PER_TOKEN = 3.2
WINDOW_STEP_LINES = 32
MAX_BLOCK_LINES = 12
#: A one-line completion never needs more tokens than this.
LINE_TOKENS = 48


@dataclass(frozen=True)
class Plan:
    mode: Mode
    prefix: str
    suffix: str
    header: str
    indent: str  # indentation a block completion lives at
    line_prefix: str  # text of the cursor's line before the cursor
    line_suffix: str  # text of the cursor's line after the cursor
    word: str  # the identifier being typed at the cursor ("" if none)
    after_dot: bool  # the word follows a "." (member completion)


def word_before(line_prefix: str) -> str:
    """The identifier being typed at the end of ``line_prefix`` ("" if none)."""
    match = _IDENT.search(line_prefix)
    return match.group(0) if match else ""


def _in_string_or_comment(tree: tree_sitter.Tree | None, byte: int) -> bool:
    if tree is None:
        return False
    node = tree.root_node.descendant_for_byte_range(max(0, byte - 1), byte)
    while node is not None:
        if any(part in node.type for part in _STRINGISH):
            # The cursor right after a closing quote is outside the string.
            return not (node.end_byte == byte and node.type.endswith(("string", "literal")))
        node = node.parent
    return False


def _open_quote(text: str, offset: int) -> bool:
    """An unterminated quote before the cursor (the tree may not show a string yet)."""
    before = text[:offset]
    if before.count('"""') % 2 or before.count("'''") % 2:
        return True
    line = text[text.rfind("\n", 0, offset) + 1 : offset]
    line = re.sub(r"\\.", "", line)
    if "#" in line.split('"')[0].split("'")[0]:
        return True  # a comment
    quotes = [ch for ch in line if ch in "\"'"]
    return bool(quotes) and quotes.count(quotes[0]) % 2 == 1


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_unit(text: str) -> str:
    return "\t" if "\n\t" in text and "\n    " not in text else "    "


def plan(
    text: str,
    offset: int,
    tree: tree_sitter.Tree | None = None,
    *,
    context_tokens: int = 1024,
    explicit: bool = False,
) -> Plan | None:
    """What to ask the model at ``offset`` of ``text``; None when nothing should be offered."""
    offset = max(0, min(offset, len(text)))
    data = encode(text[:offset])
    if not explicit and (_in_string_or_comment(tree, len(data)) or _open_quote(text, offset)):
        return None
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    line_prefix, line_suffix = text[line_start:offset], text[offset:line_end].rstrip("\r")
    word = word_before(line_prefix)
    after_dot = line_prefix[: len(line_prefix) - len(word)].endswith(".")

    mode: Mode = "line"
    indent = _indent_of(line_prefix)
    unit = indent_unit(text)
    if not line_suffix.strip():
        stripped = line_prefix.rstrip()
        if stripped and stripped.endswith(_BLOCK_OPENERS[:2]):
            mode, indent = "block", _indent_of(line_prefix) + unit
        elif not line_prefix.strip():
            prev = _previous_code_line(text, line_start)
            if prev is not None and prev.rstrip().endswith(_BLOCK_OPENERS[:2]):
                mode = "block"
                indent = (
                    line_prefix
                    if len(line_prefix) > len(_indent_of(prev))
                    else _indent_of(prev) + unit
                )

    budget = int(context_tokens * CHARS_PER_TOKEN)
    prefix_start = _window_start(text, line_start, budget * 3 // 4)
    suffix_end = _window_end(text, offset, budget - (offset - prefix_start))
    header = _header(text, tree, prefix_start, offset) if prefix_start > 0 and tree else ""
    return Plan(
        mode, text[prefix_start:offset], text[offset:suffix_end], header, indent,
        line_prefix, line_suffix, word, after_dot,
    )  # fmt: skip


def _previous_code_line(text: str, line_start: int) -> str | None:
    end = line_start - 1
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if line.strip() and not line.strip().startswith("#"):
            return line
        end = start - 1
    return None


def _window_start(text: str, line_start: int, budget: int) -> int:
    """First character of the prefix window: a line start, moving in steps of 32 lines."""
    if line_start <= budget:
        return 0
    starts = [0]
    pos = text.find("\n")
    while 0 <= pos < line_start:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    first_fit = next(i for i, s in enumerate(starts) if line_start - s <= budget)
    snapped = -(-first_fit // WINDOW_STEP_LINES) * WINDOW_STEP_LINES
    return starts[min(snapped, len(starts) - 1)]


def _window_end(text: str, offset: int, budget: int) -> int:
    budget = max(budget, 200)
    if len(text) - offset <= budget:
        return len(text)
    cut = text.rfind("\n", offset, offset + budget)
    return cut + 1 if cut > offset else offset + budget


def _header(text: str, tree: tree_sitter.Tree, window_start: int, offset: int) -> str:
    """Context that fell outside the window: imports, enclosing signatures, nearby definitions."""
    data = encode(text)
    start_byte, cursor_byte = len(encode(text[:window_start])), len(encode(text[:offset]))
    lines: list[str] = []

    def first_line(node: tree_sitter.Node) -> str:
        body = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
        return (
            data[: node.start_byte].decode("utf-8", "replace").rsplit("\n", 1)[-1]
            + body.split("\n", 1)[0]
        )

    root = tree.root_node
    definitions: dict[str, tree_sitter.Node] = {}
    for node in root.children:
        if node.start_byte >= start_byte:
            break
        if "import" in node.type:
            lines.append(data[node.start_byte : node.end_byte].decode("utf-8", "replace"))
        target = (
            node.child_by_field_name("definition") if node.type == "decorated_definition" else node
        )
        name = target.child_by_field_name("name") if target is not None else None
        if name is not None and target.type.endswith(("definition", "declaration", "item")):
            definitions[name.text.decode("utf-8", "replace")] = target
    enclosing = root.descendant_for_byte_range(cursor_byte, cursor_byte)
    signatures: list[str] = []
    while enclosing is not None:
        if (
            enclosing.type.endswith(("definition", "declaration", "item"))
            and enclosing.start_byte < start_byte
        ):
            signatures.append(first_line(enclosing))
        enclosing = enclosing.parent
    near = set(re.findall(r"[A-Za-z_]\w*", text[max(window_start, offset - 1500) : offset]))
    used = [first_line(node) for name, node in definitions.items() if name in near]
    seen: set[str] = set()
    out = [x for x in (*lines, *used, *reversed(signatures)) if not (x in seen or seen.add(x))]
    return "\n".join(out) + "\n\n" if out else ""


def _next_code_line(p: Plan) -> str | None:
    """The first line with code after the cursor's line, as written (None when none)."""
    return next((line for line in p.suffix.split("\n")[1:] if line.strip()), None)


def next_line(p: Plan) -> str:
    """The first line with code after the cursor's line (stripped; "" when none)."""
    line = _next_code_line(p)
    return "" if line is None else line.strip()


def next_indent(p: Plan) -> int:
    """The indentation of the first line with code after the cursor's line (-1: none)."""
    line = _next_code_line(p)
    return -1 if line is None else len(_indent_of(line))


def inserting(p: Plan) -> bool:
    """The block goes on after the cursor: its next line with code is indented at least
    as deep as the completion's, so what is missing is a statement, not the block's end."""
    return next_indent(p) >= len(p.indent)


def body_follows(p: Plan, line: str) -> bool:
    """The line after the cursor is indented deeper than ``line`` (the cursor's line as
    completed): if ``line`` opens a block, its body is already there."""
    return next_indent(p) > len(_indent_of(line))


def stop_rule(p: Plan) -> Callable[[str], int | None]:
    """Where generation stops: the first newline (line), or the end of the block (block),
    or before a line that repeats the code after the cursor: a model that cannot read
    the suffix (prefix-only prompts) would otherwise write it again. Inside a block
    that goes on after the cursor (:func:`inserting`), one statement: the first line
    and, when it opens a block, that block's body; one line when the code below is
    indented deeper still (it is the body of what the line opens)."""
    if p.mode == "line":
        return lambda t: t.index("\n") if "\n" in t else None
    ahead, below = next_line(p), next_indent(p)
    level = len(p.indent) + 1 if below >= len(p.indent) else len(p.indent)  # inserting(p)

    def block_end(t: str, finished: bool = False) -> int | None:
        lines = t.split("\n")
        if ahead and lines[0].strip() == ahead and (finished or len(lines) > 1):
            return 0
        if below > len(p.indent) and (finished or len(lines) > 1):
            return len(lines[0])  # an opener whose body the code below already is
        pos = len(lines[0]) + 1
        # While decoding, the last line may be unfinished; once it ends, it counts too.
        for i, line in enumerate(lines[1:] if finished else lines[1:-1], start=1):
            if line.strip() and len(_indent_of(line)) < level:
                return pos - 1
            if ahead and line.strip() == ahead:
                return pos - 1
            if i >= MAX_BLOCK_LINES:
                return pos - 1
            pos += len(line) + 1
        return None

    return block_end


def generate_request(p: Plan, max_new_tokens: int, **extra) -> GenerateRequest:
    """The engine request for a plan: its prompt parts, token budget and stop rule."""
    budget = max_new_tokens if p.mode == "block" else min(LINE_TOKENS, max_new_tokens)
    return GenerateRequest(
        prefix=p.prefix,
        suffix=p.suffix,
        header=p.header,
        max_new_tokens=budget,
        stop=stop_rule(p),
        **extra,
    )


def members_request(p: Plan, **extra) -> GenerateRequest:
    """The request whose continuation is the member name after ``name.`` (word removed)."""
    prefix = p.prefix[: len(p.prefix) - len(p.word)]
    return GenerateRequest(prefix=prefix, suffix=p.suffix, header=p.header, **extra)


def _strip_suffix_overlap(completion: str, line_suffix: str) -> str:
    head = line_suffix.strip()
    if not head:
        return completion
    for k in range(min(len(completion), len(head)), 0, -1):
        if completion.endswith(head[:k]):
            return completion[:-k]
    return completion


def _drop_extra_closers(completion: str, line_prefix: str, line_suffix: str) -> str:
    """Drop trailing closers of the completion that the closers after the cursor duplicate."""
    open_count = 0
    for ch in line_prefix + completion:
        if ch in "([{":
            open_count += 1
        elif ch in _CLOSERS and open_count:
            open_count -= 1
    head = line_suffix.strip()
    ahead = len(head) - len(head.lstrip(")]}"))
    excess = ahead - open_count
    while excess > 0 and completion and completion[-1] in _CLOSERS:
        completion, excess = completion[:-1], excess - 1
    return completion


#: A short piece looping: 1-3 characters six times, or a longer piece three times.
_LOOP = re.compile(r"(.{1,3}?)\1{5,}|(.{4,40}?)\2{2,}", re.S)


def repetitive(text: str) -> bool:
    """Degenerate output: a short piece looping, a few words or lines over and over."""
    loop = _LOOP.search(text)
    if loop is not None and (loop.group(1) or loop.group(2)).strip() and len(loop.group(0)) >= 12:
        return True
    words = re.findall(r"\S+", text)
    if len(words) >= 6 and len(set(words)) / len(words) < 0.35:
        return True
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    return len(lines) >= 3 and len(set(lines)) <= len(lines) // 2


def clean(
    p: Plan,
    completion: str,
    text: str | None = None,
    offset: int | None = None,
    tree: tree_sitter.Tree | None = None,
    parser: tree_sitter.Parser | None = None,
) -> str | None:
    """The completion as it should be shown, or None if it should be dropped."""
    if p.mode == "block":
        if repetitive(completion):
            return None  # judged whole: a loop cut at its first dedent no longer looks like one
        cut = stop_rule(p)(completion, True)  # a dedent the model wrote before stopping
        completion = (completion if cut is None else completion[:cut]).rstrip()
    else:
        completion = completion.split("\n", 1)[0].rstrip()
        if not p.line_suffix.strip() and completion.strip() == next_line(p) != "":
            return None  # the line below, written again
        completion = _strip_suffix_overlap(completion, p.line_suffix)
        completion = _drop_extra_closers(completion, p.line_prefix, p.line_suffix)
    if not completion.strip() or repetitive(completion):
        return None
    checkable = text is not None and offset is not None and tree is not None and parser is not None
    if checkable and adds_syntax_error(text, offset, completion, tree, parser):
        return None
    return completion


def _error_count(node: tree_sitter.Node) -> int:
    if not node.has_error:
        return 0
    own = 1 if node.is_error or node.is_missing else 0
    return own + sum(_error_count(c) for c in node.children)


def adds_syntax_error(
    text: str, offset: int, completion: str, tree: tree_sitter.Tree, parser: tree_sitter.Parser
) -> bool:
    """Whether inserting ``completion`` at ``offset`` leaves more syntax errors than before."""
    data = encode(text)
    at = len(encode(text[:offset]))
    inserted = encode(completion)
    edited = tree.copy()
    start = point_at_byte(data, at)
    edited.edit(at, at, at + len(inserted), start, start, point_after(start, inserted))
    new_tree = parser.parse(data[:at] + inserted + data[at:], edited)
    return _error_count(new_tree.root_node) > _error_count(tree.root_node)
