"""Calibrate the completion confidence gate on held-out typing sessions; write it beside the model.

    .venv/bin/python bench/calibrate_completion.py [--model models/reason-code-small]
        [--sessions 60] [--chars 60] [--precision 0.40] [--dry-run]

Typing sessions on the held-out *standard library* split (``valid_stdlib.jsonl``;
bench/completion.py measures on the third-party split, so the two never share a
file) go through the real server with the gate off. Each distinct model suggestion
gives its confidence features (mean, minimum and first token log-probability, from
``reasonLsp/stats``) and whether the user then typed its first line. A logistic
model is fitted on those, and the automatic threshold is the lowest acceptance
probability whose suggestions reach ``--precision`` (so that as many keystrokes as
possible still get one); an explicit invoke gets half of it (``--invoked``: another).
The result is written to ``<model>/completion_calibration.json`` with the numbers it
was chosen on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from completion import run_condition
from typing_sessions import load_sessions

from reason_lsp.engine.loader import resolve_model
from reason_lsp.features.completion import gate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--sessions", type=int, default=60)
    ap.add_argument("--chars", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--precision", type=float, default=0.40, help="target on this split")
    ap.add_argument(
        "--invoked", type=float, default=-1.0,
        help="the explicit-invoke threshold (default: half the automatic one; 0 answers "
        "every invoke, as the pretrained model's gate does)",
    )  # fmt: skip
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    args = ap.parse_args()
    folder = Path(resolve_model(args.model))
    sessions = load_sessions(args.sessions, args.chars, args.seed, ("valid_stdlib.jsonl",))
    settings = {"model": str(folder), "completion": {"minConfidence": 0.0}}
    run = asyncio.run(run_condition("calibration", settings, sessions, [], quiet=False))
    rows = [
        (tuple(r.features), r.accepted)
        for r in run.requests
        if r.kind == "model" and r.shown and len(r.features) == 3
    ]
    if len(rows) < 20:
        sys.exit(f"only {len(rows)} suggestions to calibrate on; use more --sessions")
    fitted = gate.fit(rows)
    scored = [(fitted.probability(gate.Confidence(*f, tokens=1)), ok) for f, ok in rows]
    threshold = gate.choose_threshold(scored, args.precision)
    kept = [ok for p, ok in scored if p >= threshold]
    invoked = threshold / 2 if args.invoked < 0 else args.invoked
    result = gate.Gate(fitted.weights, fitted.bias, threshold, invoked)
    extra = {
        "fitted_on": {
            "split": "valid_stdlib", "sessions": len(sessions), "chars": args.chars,
            "seed": args.seed, "suggestions": len(rows),
            "accepted": sum(ok for _, ok in rows), "target_precision": args.precision,
            "precision_at_threshold": sum(kept) / len(kept) if kept else 0.0,
            "suggestions_kept": len(kept) / len(rows),
        },
        "command": "bench/calibrate_completion.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    print(json.dumps({**result.__dict__, **extra}, indent=2))
    if not args.dry_run:
        print(f"wrote {result.save(folder, extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
