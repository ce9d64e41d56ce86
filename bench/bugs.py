"""Planted bugs: does the "unlikely code" score find a single-token mutant, next to pyflakes?

The default run (150 functions, about 3-5 minutes on 2 cores for the 8M model)::

    .venv/bin/python bench/bugs.py --model models/reason-code-small
    OMP_NUM_THREADS=1 .venv/bin/python bench/bugs.py --functions 20 --json -

Data: functions from the held-out splits ``data/corpus/valid_stdlib.jsonl`` and
``valid_thirdparty.jsonl`` (whole packages the training corpus never saw), sampled
deterministically from ``--seed`` (top-level functions and methods, 3-80 lines, at
most two per file). Each sampled function gets one mutant, one of:

- ``comparison``: ``<``<->``<=``, ``>``<->``>=``, ``==``<->``!=``;
- ``variable``: a read of a local name (parameter or assigned in the function)
  replaced by another local name of the same function;
- ``off-by-one``: an integer literal ``n`` -> ``n+1`` or ``n-1``;
- ``swap-args``: two adjacent positional arguments of a call swapped;
- ``and-or``: ``and``<->``or``;
- ``is-eq``: ``is``<->``==``, ``is not``<->``!=``.

Sites are found with tree-sitter inside function bodies, never in strings, comments
or annotations, on one line; the kind is the rarest so far among those the function
offers (so the kinds stay balanced), and a mutant is kept only when the mutated file
still parses (tree-sitter without errors, and ``ast.parse``).

Scoring is the server's: the region (``unlikely.regions``) holding the function is
scored after the file's import header (``unlikely.header_of``), clean and mutated.
Printed:

1. ROC AUC of the per-line score (``unlikely.line_scores`` at the shipped margin: the
   highest surprisal of a code token on the line whose top alternative leads by the
   margin; 0 when none) for the mutated line against the other code lines of the same
   mutated function, pairwise (ties count half), averaged over functions; also pooled
   (every mutated line against every code line of the clean functions), and the same
   two with the calibration's per-line statistic (``flags`` at zero thresholds);
   how often the mutated line is its function's top line, and how often it scores
   higher than the same line did before the mutation.
   Code lines: lines with a token outside strings and comments.
2. Precision and recall at the shipped thresholds (``Thresholds.load(model)``): a
   mutant is found when ``unlikely.flags`` puts a flag on its line; precision is the
   share of the flags on the mutated functions' lines that sit on the mutated line.
   Warnings alone, and warnings + information.
3. Warnings per 1,000 clean lines: ``flags`` on the clean functions, per non-blank
   line (docstrings included, as in the calibration).
4. pyflakes on the whole mutated file against the clean file: a mutant is caught when
   a message on the mutated line is new.

Per-kind recall and AUC follow. ``--json PATH`` (or ``-``) writes the numbers and
every mutant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tree_sitter  # noqa: E402
from mutants import (  # noqa: E402
    KINDS,
    Edit,
    Sample,
    apply,
    candidates,
    choose,
    code_rows,
    functions,
    parses,
    pyflakes_messages,
    sites,
)

from reason_lsp.features.unlikely import flags as unlikely  # noqa: E402
from reason_lsp.text import languages  # noqa: E402

__all__ = ["KINDS", "Edit", "Sample", "apply", "candidates", "choose", "code_rows",
           "functions", "parses", "pyflakes_messages", "sites"]  # fmt: skip

SPLITS = (Path("data/corpus/valid_thirdparty.jsonl"), Path("data/corpus/valid_stdlib.jsonl"))
GOAL_AUC, GOAL_WARNINGS = 0.85, 3.3


def auc_pairs(positive: list[float], negative: list[float]) -> float | None:
    """P(positive > negative), ties counting half (the Mann-Whitney form of ROC AUC)."""
    if not positive or not negative:
        return None
    ranked = sorted([(v, 1) for v in positive] + [(v, 0) for v in negative])
    wins = 0.0
    below = 0  # negatives strictly below the current value
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        pos = sum(1 for _, y in ranked[i:j] if y)
        neg = (j - i) - pos
        wins += pos * (below + neg / 2)
        below += neg
        i = j
    return wins / (len(positive) * len(negative))


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _per_line(chunk: str, scores, thresholds, parser) -> tuple[dict, dict]:
    """Per region line: ``line_scores`` at the margin, and the calibration's statistic."""
    by_line = unlikely.line_scores(chunk, scores, parser, thresholds.margin)
    loose = unlikely.Thresholds(warning=0.0, information=0.0, margin=thresholds.margin)
    calib = {
        chunk.count("\n", 0, f.start): f.surprisal
        for f in unlikely.flags(chunk, scores, loose, parser)
    }
    return by_line, calib


def _flagged(chunk: str, scores, thresholds, parser, rows: range) -> dict:
    """The flags at the shipped thresholds on the given region lines, by line."""
    found = {}
    for f in unlikely.flags(chunk, scores, thresholds, parser):
        line = chunk.count("\n", 0, f.start)
        if line in rows:
            found[line] = f
    return found


def evaluate(chosen, decoder, thresholds: unlikely.Thresholds, parser, log=print) -> dict:
    from reason_lsp.engine.scoring import score

    rows = []
    clean_line_scores: list[float] = []
    clean_calib_scores: list[float] = []
    clean_lines = clean_warnings = clean_flags = clean_pyflakes = 0
    flakes_cache: dict[str, Counter] = {}
    for n, (sample, mutated, mtree) in enumerate(chosen):
        text, edit = sample.text, sample.edit
        header = unlikely.header_of(text, sample.tree)
        region = unlikely.regions(text, sample.tree, header)[sample.region_index]
        mtext = mutated.decode("utf-8")
        mregion = unlikely.regions(mtext, mtree, unlikely.header_of(mtext, mtree))[
            sample.region_index
        ]
        assert mregion.start == region.start
        base = text.count("\n", 0, region.start)
        func_rows = range(sample.func.start_point.row - base, sample.func.end_point.row - base + 1)
        code = sorted(r - base for r in code_rows(sample.func))
        row = edit.row - base
        chunk, mchunk = text[region.start : region.end], mtext[mregion.start : mregion.end]
        scores, mscores = score(decoder, header, chunk), score(decoder, header, mchunk)

        m_line, m_calib = _per_line(mchunk, mscores, thresholds, parser)
        c_line, c_calib = _per_line(chunk, scores, thresholds, parser)
        others = [r for r in code if r != row]
        auc = auc_pairs([m_line.get(row, 0.0)], [m_line.get(r, 0.0) for r in others])
        auc_calib = auc_pairs([m_calib.get(row, 0.0)], [m_calib.get(r, 0.0) for r in others])
        clean_line_scores.extend(c_line.get(r, 0.0) for r in code)
        clean_calib_scores.extend(c_calib.get(r, 0.0) for r in code)

        mflags = _flagged(mchunk, mscores, thresholds, parser, func_rows)
        cflags = _flagged(chunk, scores, thresholds, parser, func_rows)
        lines = chunk.split("\n")
        clean_lines += sum(1 for r in func_rows if r < len(lines) and lines[r].strip())
        clean_warnings += sum(1 for f in cflags.values() if f.severity == "warning")
        clean_flags += len(cflags)

        if sample.path not in flakes_cache:
            flakes_cache[sample.path] = pyflakes_messages(text)
        before = flakes_cache[sample.path]
        after = pyflakes_messages(mtext)
        new = [m for (line, m), k in after.items() if line == edit.row + 1 and k > before[line, m]]
        clean_pyflakes += sum(k for (line, _), k in before.items() if line - 1 - base in func_rows)
        hit = mflags.get(row)
        rows.append(
            {
                "path": sample.path,
                "package": sample.package,
                "line": edit.row + 1,
                "kind": edit.kind,
                "before": edit.before,
                "after": edit.after,
                "source": mchunk.split("\n")[row].strip(),
                "score": round(m_line.get(row, 0.0), 3),
                "score_calibration_stat": round(m_calib.get(row, 0.0), 3),
                "clean_score": round(c_line.get(row, 0.0), 3),
                "top_other": round(max([m_line.get(r, 0.0) for r in others] or [0.0]), 3),
                "auc": auc,
                "auc_calibration_stat": auc_calib,
                "warning": hit is not None and hit.severity == "warning",
                "flag": hit is not None,
                "flag_message": hit.message if hit is not None else None,
                "false_warnings": sum(
                    1 for r, f in mflags.items() if r != row and f.severity == "warning"
                ),
                "false_flags": sum(1 for r in mflags if r != row),
                "pyflakes": new,
            }
        )
        if (n + 1) % 10 == 0:
            log(f"  {n + 1}/{len(chosen)} functions scored")

    def summary(items: list[dict]) -> dict:
        warn = sum(r["warning"] for r in items)
        flag = sum(r["flag"] for r in items)
        false_w = sum(r["false_warnings"] for r in items)
        false_f = sum(r["false_flags"] for r in items)
        return {
            "mutants": len(items),
            "auc": _mean(r["auc"] for r in items),
            "auc_calibration_stat": _mean(r["auc_calibration_stat"] for r in items),
            "top1": _mean(r["score"] > r["top_other"] for r in items) if items else None,
            "more_surprising": _mean(r["score"] > r["clean_score"] for r in items)
            if items
            else None,
            "recall_warning": warn / len(items) if items else None,
            "precision_warning": warn / (warn + false_w) if warn + false_w else None,
            "recall_flag": flag / len(items) if items else None,
            "precision_flag": flag / (flag + false_f) if flag + false_f else None,
            "recall_pyflakes": _mean(bool(r["pyflakes"]) for r in items) if items else None,
        }

    return {
        "overall": summary(rows),
        "by_kind": {k: summary([r for r in rows if r["kind"] == k]) for k in KINDS},
        "pooled_auc": auc_pairs([r["score"] for r in rows], clean_line_scores),
        "pooled_auc_calibration_stat": auc_pairs(
            [r["score_calibration_stat"] for r in rows], clean_calib_scores
        ),
        "clean_lines": clean_lines,
        "clean_code_lines": len(clean_line_scores),
        "warnings_per_1000": 1000 * clean_warnings / clean_lines if clean_lines else None,
        "flags_per_1000": 1000 * clean_flags / clean_lines if clean_lines else None,
        "pyflakes_per_1000": 1000 * clean_pyflakes / clean_lines if clean_lines else None,
        "mutants": rows,
    }


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.0f}%" if pct else f"{value:.3f}"


def report(result: dict, log=print) -> None:
    o = result["overall"]
    t = result["thresholds"]
    log(
        f"model {result['model']}; thresholds {t['source']}: warning {t['warning']:.3f}, "
        f"information {t['information']:.3f}, margin {t['margin']:.2f} nats"
    )
    log(
        f"{o['mutants']} mutants (one per function, seed {result['seed']}); "
        f"{result['clean_lines']} clean non-blank lines, {result['clean_code_lines']} code lines"
    )
    log("")
    log(f"AUC, mutated line vs the other code lines of its function (mean): {_fmt(o['auc'])}")
    log(
        f"  pooled (mutated lines vs clean functions' code lines):     {_fmt(result['pooled_auc'])}"
    )
    log(
        f"  with the calibration's per-line statistic: {_fmt(o['auc_calibration_stat'])} "
        f"(pooled {_fmt(result['pooled_auc_calibration_stat'])})"
    )
    log(f"  mutated line scores highest in its function: {_fmt(o['top1'], True)}")
    log(f"  mutated line scores higher than it did clean: {_fmt(o['more_surprising'], True)}")
    log("")
    log("at the shipped thresholds        recall  precision  per 1,000 clean lines")
    log(
        f"  warnings                        {_fmt(o['recall_warning'], True):>6}  "
        f"{_fmt(o['precision_warning'], True):>9}  {result['warnings_per_1000']:.1f}"
    )
    log(
        f"  warnings + information          {_fmt(o['recall_flag'], True):>6}  "
        f"{_fmt(o['precision_flag'], True):>9}  {result['flags_per_1000']:.1f}"
    )
    log(
        f"  pyflakes (new message on line)  {_fmt(o['recall_pyflakes'], True):>6}  "
        f"{'':>9}  {result['pyflakes_per_1000']:.1f} (messages)"
    )
    log("")
    log("kind          n     AUC  top-1  warn  warn+info  pyflakes")
    for kind, s in result["by_kind"].items():
        log(
            f"  {kind:<10} {s['mutants']:>3}  {_fmt(s['auc']):>6}  {_fmt(s['top1'], True):>5}  "
            f"{_fmt(s['recall_warning'], True):>4}  {_fmt(s['recall_flag'], True):>9}  "
            f"{_fmt(s['recall_pyflakes'], True):>8}"
        )
    log("")
    auc, rate = o["auc"], result["warnings_per_1000"]
    met = auc is not None and auc >= GOAL_AUC and rate is not None and rate <= GOAL_WARNINGS
    log(
        f"goal: AUC >= {GOAL_AUC} at <= {GOAL_WARNINGS} warnings per 1,000 clean lines: "
        f"AUC {_fmt(auc)}, {rate:.1f} warnings per 1,000 -> {'met' if met else 'not met'}"
    )
    log(f"({result['seconds']:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="models/reason-code-small")
    ap.add_argument("--functions", type=int, default=150, help="functions (mutants) to sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--valid", type=Path, action="append", help="held-out JSONL split(s)")
    ap.add_argument("--json", help="write the numbers and every mutant here (- for stdout)")
    args = ap.parse_args(argv)

    parser = tree_sitter.Parser(languages.load("python"))
    records = []
    for path in args.valid or [ROOT / p for p in SPLITS]:
        if Path(path).is_file():
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            records.extend(json.loads(line) for line in lines if line.strip())
    if not records:
        print("no held-out splits: run `reason-lsp build-corpus` first", file=sys.stderr)
        return 2
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json == "-" else print
    t0 = time.perf_counter()
    chosen = choose(candidates(records, parser), args.functions, args.seed, parser)
    log(f"{len(chosen)} mutants from {len(records)} held-out files")

    from reason_lsp.engine import open_decoder

    decoder = open_decoder(str(args.model))
    from reason_lsp.engine import catalog

    model_dir = catalog.local_folder(str(args.model))
    thresholds = unlikely.Thresholds.load(model_dir)
    calibration = model_dir / unlikely.CALIBRATION if model_dir else None
    found = calibration is not None and calibration.is_file()
    source = str(calibration) if found else "defaults (no calibration.json)"
    result = evaluate(chosen, decoder, thresholds, parser, log=log)
    result.update(
        model=str(args.model),
        seed=args.seed,
        thresholds={**asdict(thresholds), "source": source},
        seconds=time.perf_counter() - t0,
    )
    report(result, log=log)
    if args.json:
        payload = json.dumps(result, indent=2)
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
