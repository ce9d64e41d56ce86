"""Model quality on held-out packages: bits/byte, next line, identifier after ``.`` vs Jedi, FIM.

The same as ``reason-lsp eval --full``. The default run (150 positions per task per
split, about 5 minutes on 2 cores for the 8M model)::

    .venv/bin/python bench/model_quality.py --model models/reason-code-small
    .venv/bin/python bench/model_quality.py --model runs/smoke/model -n 40 --json out.json

For each held-out split (``data/corpus/valid_stdlib.jsonl`` and
``valid_thirdparty.jsonl``: whole packages the training corpus never saw; build them
with ``reason-lsp build-corpus``) it prints:

1. loss in bits per byte (``reason_lsp.training.evaluate.bits_per_byte``, first
   ``--max-bytes`` of the shuffled files);
2. next-line completion: the prompt is the file up to a line's first non-blank
   character (at most ``--context`` tokens), the model greedily writes the rest of the
   line (stop at a newline, ``<|endoftext|>`` or 48 tokens); exact match and edit
   similarity (difflib ratio), blank and comment-only lines skipped;
3. identifier completion right after ``name.``: top-1/top-5 of the model (beam search
   over identifier tokens) next to Jedi's at the same positions;
4. FIM: exact match of a line's rest masked from a random column, PSM and SPM order.

``-n`` positions per task per split, sampled deterministically from ``--seed``;
``--max-files`` limits the files per split; ``--tasks bpb,line,ident,fim`` picks
tasks; ``--json PATH`` (or ``-``) writes the numbers (``--examples``: with every
position). Prompts are token-healed; how, and how identifiers are ranked, is in
``reason_lsp/training/quality.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reason_lsp.training.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", "--full", *sys.argv[1:]]))
