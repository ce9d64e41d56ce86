"""Model quality on held-out code, measured through the server's own decoder.

Bits/byte, next line, identifier after ``.`` (with Jedi beside it) and one-line FIM.
The command line is ``bench/model_quality.py`` (also ``reason-lsp eval --full``); the
positions come from :mod:`reason_lsp.training.cases`.

Everything but bits/byte runs through :class:`reason_lsp.engine.decoder.Decoder`,
the code the server runs for every completion, so these are the numbers users meet:
the same prompt window, the same token healing (the whole last pre-tokenizer chunk
is backed off and the first generated tokens must spell it), the same greedy
identifier search after ``name.`` and the same FIM order (SPM when the model was
trained on it). Bits/byte is a property of the weights alone: the summed
negative log-likelihood of each file, over its UTF-8 size.
"""

from __future__ import annotations

import difflib
import json
import random
import sys
import time
from pathlib import Path

import torch

from reason_lsp.engine import GenerateRequest
from reason_lsp.engine.decoder import Decoder
from reason_lsp.training.cases import (
    Sample,
    fim_cases,
    ident_cases,
    jedi_names,
    next_line_cases,
)

SPLITS = (Path("data/corpus/valid_stdlib.jsonl"), Path("data/corpus/valid_thirdparty.jsonl"))
TASKS = ("bpb", "line", "ident", "fim")
HEALING = "the server decoder's: the last pre-tokenizer chunk backed off and re-spelled"
LINE_TOKENS = 48


def first_line(text: str) -> int | None:
    """Stop rule: keep the text up to its first newline."""
    cut = text.find("\n")
    return cut if cut >= 0 else None


def _ask(decoder: Decoder, prefix: str, suffix: str = "") -> str:
    request = GenerateRequest(
        prefix=prefix, suffix=suffix, max_new_tokens=LINE_TOKENS, stop=first_line, key="eval"
    )
    return decoder.generate(request).samples[0].text


def eval_bpb(decoder: Decoder, sample: Sample, max_bytes: int) -> dict:
    from reason_lsp.training.evaluate import bits_per_byte

    texts = [r["text"] for r in sample.records]
    n_bytes = 0
    for i, t in enumerate(texts):
        n_bytes += len(t.encode())
        if n_bytes >= max_bytes:
            texts = texts[: i + 1]
            break
    tok = decoder.tok.backend_tokenizer  # the tokenizers.Tokenizer under the HF one
    bpb = bits_per_byte(decoder.model, tok, texts, seq_len=512, max_bytes=max_bytes)
    return {"bits_per_byte": bpb, "bytes": n_bytes, "files": len(texts)}


def eval_next_line(decoder: Decoder, sample: Sample, n: int) -> dict:
    exact, sim, rows = 0, 0.0, []
    cases = next_line_cases(sample.records, sample.rng("line"), n)
    for prompt, truth in cases:
        pred = _ask(decoder, prompt).rstrip()
        exact += pred == truth
        sim += difflib.SequenceMatcher(None, pred, truth, autojunk=False).ratio()
        rows.append({"truth": truth, "pred": pred})
    k = max(1, len(cases))
    return {"n": len(cases), "exact": exact / k, "edit_similarity": sim / k, "examples": rows}


def eval_ident(decoder: Decoder, sample: Sample, n: int, jedi: bool) -> dict:
    cases = ident_cases(sample.records, sample.rng("ident"), n)
    hits = {"model_top1": 0, "model_top5": 0, "jedi_top1": 0, "jedi_top5": 0}
    jedi_empty, jedi_seconds, rows = 0, 0.0, []
    for i, offset, truth in cases:
        record = sample.records[i]
        prefix = record["text"][:offset]
        request = GenerateRequest(prefix=prefix, key="eval")
        ranked = [name for name, _ in decoder.identifiers(request, "", k=5)]
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


def eval_fim(decoder: Decoder, sample: Sample, n: int) -> dict:
    """Exact match of masked single-line spans, in the order the server sends (SPM for a
    model trained on it, else PSM)."""
    cases = fim_cases(sample.records, sample.rng("fim"), n)
    exact, rows = 0, []
    for prefix, middle, suffix in cases:
        pred = _ask(decoder, prefix, suffix)
        exact += pred.rstrip() == middle.rstrip()
        rows.append({"middle": middle, "pred": pred})
    k = max(1, len(cases))
    order = "none" if decoder.fim is None else ("spm" if decoder.fim.supports_spm else "psm")
    return {"n": len(cases), "exact": exact / k, "order": order, "examples": rows}


# -- driver ----------------------------------------------------------------------------


def load_sample(path: Path, max_files: int | None, seed: int) -> Sample:
    records = [json.loads(line) for line in path.open(encoding="utf-8")]
    random.Random(f"{seed}:{path.stem}:files").shuffle(records)
    if max_files:
        records = records[:max_files]
    return Sample(path.stem, records, seed)


def load_decoder(model_dir: Path, context: int) -> Decoder:
    """A model folder, or a training checkpoint (``runs/<name>/checkpoint.pt``), on the CPU."""
    from reason_lsp.engine import EngineConfig, loader, open_decoder

    model_dir = Path(model_dir)
    if model_dir.suffix != ".pt":
        return open_decoder(str(model_dir), device="cpu", context_tokens=context)
    model, tok_dir = _load_checkpoint(model_dir)
    loaded = loader.wrap(model, str(tok_dir), EngineConfig(model=str(model_dir), device="cpu"))
    return Decoder(loaded, context)


def _load_checkpoint(path: Path):
    """The model of a checkpoint, and the tokenizer folder next to it (as ``train`` keeps)."""
    import ast

    from reason_lsp.training.train import ModelShape, build_model

    state = torch.load(path, map_location="cpu", weights_only=False)
    shape = ModelShape(**ast.literal_eval(state["options"]["shape"]))
    model = build_model(shape)
    model.load_state_dict(state["model"])
    init = state["options"].get("init", "None")
    tok_dir = Path(init) if init != "None" else path.parent / "tokenizer"
    return model.eval(), tok_dir


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
    jedi: bool = True,
    log=print,
) -> dict:
    decoder = load_decoder(model_dir, context)
    n_params = sum(p.numel() for p in decoder.model.parameters())
    report: dict = {
        "model": str(model_dir),
        "parameters": n_params,
        "settings": {"n": n, "max_files": max_files, "seed": seed, "context": context,
                     "bpb_bytes": bpb_bytes, "tasks": list(tasks), "decoder": "server",
                     "token_healing": HEALING},
        "splits": {},
    }  # fmt: skip
    log(
        f"model {model_dir} ({n_params / 1e6:.2f} M parameters) | left context {context} tokens"
        f" | the server's decoder; token healing: {HEALING}"
    )
    for path in splits:
        sample = load_sample(path, max_files, seed)
        packages = sorted({r.get("package", "?") for r in sample.records})
        log(f"\n== {sample.name}: {len(sample.records)} files ({', '.join(packages)})")
        result: dict = {"files": len(sample.records), "packages": packages, "seconds": {}}
        for task in tasks:
            t0 = time.perf_counter()
            if task == "bpb":
                result["bpb"] = r = eval_bpb(decoder, sample, bpb_bytes)
                line = f"{r['bits_per_byte']:.3f} bits/byte ({r['bytes'] / 1e3:.0f} kB)"
                log(f"  loss                 {line}")
            elif task == "line":
                result["next_line"] = r = eval_next_line(decoder, sample, n)
                log(
                    f"  next line            exact {r['exact']:6.1%}  edit similarity "
                    f"{r['edit_similarity']:.3f}  ({r['n']} lines)"
                )
            elif task == "ident":
                result["identifier"] = r = eval_ident(decoder, sample, n, jedi)
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
                result["fim"] = r = eval_fim(decoder, sample, n)
                log(
                    f"  FIM one-line span    exact {r['exact']:6.1%} ({r['order'].upper()}, "
                    f"{r['n']} spans)"
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
        jedi=not args.no_jedi,
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
