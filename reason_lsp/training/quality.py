"""Model quality on held-out code: bits/byte, next line, identifier after ``.`` (vs Jedi), FIM.

The command line is ``bench/model_quality.py`` (also ``reason-lsp eval --full``); see
its docstring. Every task samples its positions deterministically from ``--seed``, per
split, over the held-out files (whole packages the corpus never saw).

Prompts and token healing. The byte-level pre-tokenizer glues the last indent space
(and a newline) to the next token: ``"):\\n    return"`` is ``"):" "\\n   " " return"``,
while a prompt that *ends* in ``"\\n    "`` becomes ``"):" "\\n    "``, a token the
model rarely saw before a word. Likewise ``"self._x"`` is ``"self" "._" "x"``, so a
prompt ending in ``"."`` ends on a token that usually merges with what follows. Every
left-to-right prompt here is therefore *healed*: its last token is backed off and the
first generated tokens are constrained to spell the removed text (a token that starts
with it, or a chain of tokens that are prefixes of it). The reported completion is
what comes after the removed text. FIM PSM prompts end in ``<fim_middle>``, whose
middle was tokenized on its own in training, so they need no healing; SPM prompts end
in the prefix, which training tokenized jointly with the middle, so they are healed.

Identifier ranking. The model's candidates after ``name.`` come from a beam search
over tokens (``--beam`` wide, at most 4 tokens): a hypothesis ends when a token
starts with a non-identifier character (the probability of all such tokens is the
probability that the identifier is complete), or when a token holds identifier
characters followed by others (``"__("``). Probabilities of the same identifier are
summed and the identifiers ranked by them. Jedi sees the same prefix (the file up to
the cursor, nothing after it, so the line being completed cannot leak into its
inference) at the file's real path when it exists on this machine, and its list
(alphabetical) is taken in order.
"""

from __future__ import annotations

import difflib
import io
import json
import keyword
import random
import signal
import sys
import sysconfig
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

import torch

from reason_lsp.engine import fim
from reason_lsp.training.lm import LM

SPLITS = (Path("data/corpus/valid_stdlib.jsonl"), Path("data/corpus/valid_thirdparty.jsonl"))
TASKS = ("bpb", "line", "ident", "fim")
HEALING = "back off the last prompt token; first tokens constrained to spell it"


# -- sampling positions ----------------------------------------------------------------


@dataclass
class Sample:
    """One held-out split: its name and records (``{path, package, text}``)."""

    name: str
    records: list[dict]
    rng_seed: int = 0

    def rng(self, task: str) -> random.Random:
        return random.Random(f"{self.rng_seed}:{self.name}:{task}")


def code_lines(text: str) -> list[tuple[int, int, str]]:
    """(line start offset, indent, line) of each non-blank, non-comment-only line."""
    out, offset = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((offset, len(line) - len(line.lstrip()), line))
        offset += len(line) + 1
    return out


def next_line_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(prompt up to the line's first non-blank character, rest of the line)."""
    cands = [(i, c) for i, r in enumerate(records) for c in code_lines(r["text"])]
    picked = rng.sample(cands, min(n, len(cands)))
    out = []
    for i, (offset, indent, line) in picked:
        text = records[i]["text"]
        out.append((text[: offset + indent], line[indent:].rstrip()))
    return out


def fim_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(prefix, middle, suffix): the middle is a line's rest from a random column."""
    cands = [
        (i, c)
        for i, r in enumerate(records)
        for c in code_lines(r["text"])
        if len(c[2].rstrip()) - c[1] >= 2
    ]
    picked = rng.sample(cands, min(n, len(cands)))
    out = []
    for i, (offset, indent, line) in picked:
        text = records[i]["text"]
        end = len(line.rstrip())
        cut = rng.randrange(indent, end)
        out.append((text[: offset + cut], line[cut:end], text[offset + end :]))
    return out


def dot_positions(text: str) -> list[tuple[int, str]]:
    """(offset just after ``name.``, the identifier that follows) for every such place."""
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    try:
        toks = [
            t
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.COMMENT)
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return []
    out = []
    for prev, dot, nxt in zip(toks, toks[1:], toks[2:], strict=False):
        if (
            dot.type == tokenize.OP
            and dot.string == "."
            and prev.type == tokenize.NAME
            and not keyword.iskeyword(prev.string)
            and prev.end == dot.start
            and nxt.type == tokenize.NAME
            and nxt.start == dot.end
        ):
            row, col = dot.end
            out.append((starts[row - 1] + col, nxt.string))
    return out


def ident_cases(records: list[dict], rng: random.Random, n: int) -> list[tuple[int, int, str]]:
    """(record index, offset after the dot, true identifier)."""
    cands = [
        (i, off, name) for i, r in enumerate(records) for off, name in dot_positions(r["text"])
    ]
    return rng.sample(cands, min(n, len(cands)))


# -- Jedi ------------------------------------------------------------------------------


def _real_path(rel: str) -> Path | None:
    roots = [Path(sysconfig.get_paths()["stdlib"]), *(Path(p) for p in sys.path if p)]
    for root in roots:
        path = root / rel
        if path.is_file():
            return path
    return None


class _Timeout(Exception):
    pass


def jedi_names(prefix: str, rel_path: str, limit_s: int = 10) -> list[str] | None:
    """Jedi's completions at the end of ``prefix`` (None when Jedi fails or times out)."""
    import jedi

    lines = prefix.split("\n")
    path = _real_path(rel_path) or Path(rel_path)

    def alarm(*_):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, alarm) if hasattr(signal, "SIGALRM") else None
    if old is not None:
        signal.alarm(limit_s)
    try:
        comps = jedi.Script(code=prefix, path=path).complete(len(lines), len(lines[-1]))
        return [c.name for c in comps]
    except Exception:  # Jedi raises many kinds on odd code; a failure is a miss
        return None
    finally:
        if old is not None:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


# -- tasks -----------------------------------------------------------------------------


def eval_bpb(lm: LM, sample: Sample, max_bytes: int) -> dict:
    from reason_lsp.training.evaluate import bits_per_byte

    texts = [r["text"] for r in sample.records]
    n_bytes = 0
    for i, t in enumerate(texts):
        n_bytes += len(t.encode())
        if n_bytes >= max_bytes:
            texts = texts[: i + 1]
            break
    bpb = bits_per_byte(lm.model, lm.tok, texts, seq_len=512, max_bytes=max_bytes)
    return {"bits_per_byte": bpb, "bytes": n_bytes, "files": len(texts)}


def eval_next_line(lm: LM, sample: Sample, n: int, context: int, heal: bool = True) -> dict:
    exact, sim, rows = 0, 0.0, []
    cases = next_line_cases(sample.records, sample.rng("line"), n)
    for prompt, truth in cases:
        ids = lm.left_ids(prompt, context)
        ids, healed = lm.heal(ids) if heal else (ids, "")
        pred = lm.complete(ids, healed).rstrip()
        exact += pred == truth
        sim += difflib.SequenceMatcher(None, pred, truth, autojunk=False).ratio()
        rows.append({"truth": truth, "pred": pred})
    k = max(1, len(cases))
    return {"n": len(cases), "exact": exact / k, "edit_similarity": sim / k, "examples": rows}


def eval_ident(lm: LM, sample: Sample, n: int, context: int, beam: int, jedi: bool) -> dict:
    cases = ident_cases(sample.records, sample.rng("ident"), n)
    hits = {"model_top1": 0, "model_top5": 0, "jedi_top1": 0, "jedi_top5": 0}
    jedi_empty, jedi_seconds, rows = 0, 0.0, []
    for i, offset, truth in cases:
        record = sample.records[i]
        prefix = record["text"][:offset]
        ids, healed = lm.heal(lm.left_ids(prefix, context))
        ranked = [name for name, _ in lm.rank_identifiers(ids, healed, beam=beam)]
        hits["model_top1"] += ranked[:1] == [truth]
        hits["model_top5"] += truth in ranked[:5]
        row = {"truth": truth, "model": ranked[:5]}
        if jedi:
            t0 = time.perf_counter()
            names = jedi_names(prefix, record["path"])
            jedi_seconds += time.perf_counter() - t0
            jedi_empty += not names
            names = names or []
            hits["jedi_top1"] += names[:1] == [truth]
            hits["jedi_top5"] += truth in names[:5]
            row["jedi"] = names[:5]
        rows.append(row)
    k = max(1, len(cases))
    result: dict = {"n": len(cases), **{key: v / k for key, v in hits.items()}, "examples": rows}
    if jedi:
        result["jedi_empty"] = jedi_empty / k
        result["jedi_seconds"] = jedi_seconds
    else:
        for key in ("jedi_top1", "jedi_top5"):
            result[key] = None
    return result


def eval_fim(lm: LM, sample: Sample, n: int, context: int, heal: bool = True) -> dict:
    """Exact match of masked single-line spans in PSM and SPM order (SPM healed)."""
    cases = fim_cases(sample.records, sample.rng("fim"), n)
    left, right = context * 3 // 4, context // 4
    exact = {"psm": 0, "spm": 0}
    rows = []
    ids = lm.fim_ids
    for prefix, middle, suffix in cases:
        p_ids = lm.encode(prefix[-left * 8 :])[-left:]
        s_ids = lm.encode(suffix[: right * 8])[:right]
        psm = lm.complete(fim.psm_ids(ids, p_ids, s_ids))
        spm_prompt = fim.spm_ids(ids, s_ids, p_ids)
        spm_prompt, healed = lm.heal(spm_prompt) if heal else (spm_prompt, "")
        spm = lm.complete(spm_prompt, healed)
        exact["psm"] += psm.rstrip() == middle.rstrip()
        exact["spm"] += spm.rstrip() == middle.rstrip()
        rows.append({"middle": middle, "psm": psm, "spm": spm})
    k = max(1, len(cases))
    return {"n": len(cases), "psm_exact": exact["psm"] / k, "spm_exact": exact["spm"] / k,
            "examples": rows}  # fmt: skip


# -- driver ----------------------------------------------------------------------------


def load_sample(path: Path, max_files: int | None, seed: int) -> Sample:
    records = [json.loads(line) for line in path.open(encoding="utf-8")]
    random.Random(f"{seed}:{path.stem}:files").shuffle(records)
    if max_files:
        records = records[:max_files]
    return Sample(path.stem, records, seed)


def load_lm(model_dir: Path) -> LM:
    """A model folder, or a training checkpoint (``runs/<name>/checkpoint.pt``)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from reason_lsp.training.tokenizer import load_tokenizer

    hf_logging.disable_progress_bar()
    model_dir = Path(model_dir)
    if model_dir.suffix == ".pt":
        return _load_checkpoint(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, local_files_only=True
    ).eval()
    return LM(model, load_tokenizer(model_dir))


def _load_checkpoint(path: Path) -> LM:
    """The model of a checkpoint, with the tokenizer folder next to it (as ``train`` keeps)."""
    import ast

    from reason_lsp.training.tokenizer import load_tokenizer
    from reason_lsp.training.train import ModelShape, build_model

    state = torch.load(path, map_location="cpu", weights_only=False)
    shape = ModelShape(**ast.literal_eval(state["options"]["shape"]))
    model = build_model(shape)
    model.load_state_dict(state["model"])
    init = state["options"].get("init", "None")
    tok_dir = Path(init) if init != "None" else path.parent / "tokenizer"
    return LM(model.eval(), load_tokenizer(tok_dir))


@torch.inference_mode()
def run(
    model_dir: Path,
    splits: list[Path],
    tasks: tuple[str, ...] = TASKS,
    n: int = 150,
    max_files: int | None = None,
    seed: int = 0,
    context: int = 512,
    bpb_bytes: int = 200_000,
    beam: int = 8,
    jedi: bool = True,
    heal: bool = True,
    log=print,
) -> dict:
    lm = load_lm(model_dir)
    n_params = sum(p.numel() for p in lm.model.parameters())
    report: dict = {
        "model": str(model_dir),
        "parameters": n_params,
        "settings": {"n": n, "max_files": max_files, "seed": seed, "context": context,
                     "bpb_bytes": bpb_bytes, "beam": beam, "tasks": list(tasks),
                     "token_healing": HEALING if heal else "off"},
        "splits": {},
    }  # fmt: skip
    log(
        f"model {model_dir} ({n_params / 1e6:.2f} M parameters) | left context {context} tokens"
        f" | token healing: {HEALING if heal else 'off'}"
    )
    for path in splits:
        sample = load_sample(path, max_files, seed)
        packages = sorted({r.get("package", "?") for r in sample.records})
        log(f"\n== {sample.name}: {len(sample.records)} files ({', '.join(packages)})")
        result: dict = {"files": len(sample.records), "packages": packages, "seconds": {}}
        for task in tasks:
            t0 = time.perf_counter()
            if task == "bpb":
                result["bpb"] = r = eval_bpb(lm, sample, bpb_bytes)
                line = f"{r['bits_per_byte']:.3f} bits/byte ({r['bytes'] / 1e3:.0f} kB)"
                log(f"  loss                 {line}")
            elif task == "line":
                result["next_line"] = r = eval_next_line(lm, sample, n, context, heal)
                log(
                    f"  next line            exact {r['exact']:6.1%}  edit similarity "
                    f"{r['edit_similarity']:.3f}  ({r['n']} lines)"
                )
            elif task == "ident":
                result["identifier"] = r = eval_ident(lm, sample, n, context, beam, jedi)
                jedi_part = (
                    f"| Jedi top-1 {r['jedi_top1']:6.1%} top-5 {r['jedi_top5']:6.1%}"
                    f"  ({r['n']} positions; Jedi empty {r['jedi_empty']:.0%})"
                    if jedi
                    else f"| Jedi skipped ({r['n']} positions)"
                )
                log(
                    f"  identifier after .   model top-1 {r['model_top1']:6.1%} top-5 "
                    f"{r['model_top5']:6.1%} {jedi_part}"
                )
            elif task == "fim":
                result["fim"] = r = eval_fim(lm, sample, n, context, heal)
                log(
                    f"  FIM one-line span    PSM exact {r['psm_exact']:6.1%}  SPM exact "
                    f"{r['spm_exact']:6.1%}  ({r['n']} spans)"
                )
            result["seconds"][task] = round(time.perf_counter() - t0, 1)
        log(f"  seconds: {result['seconds']}")
        report["splits"][sample.name] = result
    return report


def main_from_args(args) -> int:
    """``reason-lsp eval --full`` (options in ``reason_lsp.training.cli``)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    unknown = set(tasks) - set(TASKS)
    if unknown:
        print(f"unknown tasks {sorted(unknown)}; choose from {TASKS}", file=sys.stderr)
        return 2
    to_stdout = args.json is not None and str(args.json) == "-"
    report = run(
        args.model,
        args.valid or [p for p in SPLITS if p.is_file()],
        tasks,
        n=args.n,
        max_files=args.max_files,
        seed=args.seed,
        context=args.context,
        bpb_bytes=args.max_bytes,
        beam=args.beam,
        jedi=not args.no_jedi,
        heal=not args.no_healing,
        log=(lambda msg: print(msg, file=sys.stderr)) if to_stdout else print,
    )
    if not args.examples:
        for split in report["splits"].values():
            for value in split.values():
                if isinstance(value, dict):
                    value.pop("examples", None)
    if args.json is not None:
        text = json.dumps(report, indent=2) + "\n"
        if to_stdout:
            sys.stdout.write(text)
        else:
            args.json.write_text(text, encoding="utf-8")
    return 0
