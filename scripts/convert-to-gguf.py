#!/usr/bin/env python3
"""Convert a Hugging Face Llama model with our byte-level BPE tokenizer to GGUF, for llama.cpp.

Uses the ``convert_hf_to_gguf.py`` and ``gguf-py`` vendored with llama.cpp in
llama-cpp-python's sdist (``scripts/build-llama-server.sh`` unpacks them into the
cache). The converter identifies a BPE pre-tokenizer by hashing how it splits a test
string and refuses one it does not know. Ours is GPT-2's byte-level scheme exactly: no
normalizer, ``ByteLevel(add_prefix_space=False, use_regex=True)`` (GPT-2's regex), a
ByteLevel decoder and no byte fallback. This script checks those properties in
``tokenizer.json`` and only then declares the pre-tokenizer ``gpt-2``; any other
tokenizer is refused as before. ``tests/engine/test_tokenizer_parity.py`` proves the
choice: Hugging Face and llama.cpp give identical token ids on real code, special
tokens included.

    python scripts/convert-to-gguf.py [--model models/reason-code-small] [--outtype f32]

Writes ``<cache>/models/<name>-<outtype>.gguf`` (rebuilt only when missing or older
than the weights) and prints its path. The converter imports ``sentencepiece`` even
for BPE tokenizers, so that package must be installed (it is in the dev extras).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = os.environ.get("LLAMA_CPP_PYTHON_VERSION", "0.3.36")
CACHE = Path(os.environ.get("LLAMA_CPP_CACHE", Path.home() / ".cache/reason-lsp/llama.cpp"))


def is_gpt2_byte_level(model_dir: Path) -> tuple[bool, str]:
    """Whether the tokenizer is GPT-2's byte-level BPE; the reason when it is not."""
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    pre = tok.get("pre_tokenizer") or {}
    model = tok.get("model") or {}
    checks = {
        "no normalizer": tok.get("normalizer") is None,
        "a BPE model": model.get("type") == "BPE",
        "no byte fallback": not model.get("byte_fallback", False),
        "a ByteLevel pre-tokenizer": pre.get("type") == "ByteLevel",
        "add_prefix_space false": pre.get("add_prefix_space") is False,
        "GPT-2's regex (use_regex true)": pre.get("use_regex", True) is True,
        "a ByteLevel decoder": (tok.get("decoder") or {}).get("type") == "ByteLevel",
    }
    failed = [name for name, ok in checks.items() if not ok]
    return not failed, ", ".join(failed)


def convert(model_dir: Path, out: Path, outtype: str, src: Path) -> Path:
    ok, why = is_gpt2_byte_level(model_dir)
    if not ok:
        raise SystemExit(f"{model_dir}: not GPT-2's byte-level BPE (expected {why})")
    if not (src / "convert_hf_to_gguf.py").is_file():
        raise SystemExit(f"no llama.cpp sources at {src}: run scripts/build-llama-server.sh")
    sys.path.insert(0, str(src / "gguf-py"))
    sys.path.insert(0, str(src))
    import convert_hf_to_gguf
    from conversion import base

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            return "gpt-2"  # checked above: GPT-2's pre-tokenizer, regex and byte map

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    sys.argv = ["convert_hf_to_gguf.py", str(model_dir), "--outfile", str(tmp),
                "--outtype", outtype]  # fmt: skip
    convert_hf_to_gguf.main()
    tmp.replace(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "reason-code-small")
    parser.add_argument("--outtype", default="f32", choices=["f32", "bf16", "f16", "q8_0"])
    parser.add_argument("--out", type=Path, help="the .gguf to write")
    parser.add_argument("--src", type=Path, default=CACHE / VERSION / "src",
                        help="llama.cpp sources (default: the build script's cache)")  # fmt: skip
    args = parser.parse_args()
    out = args.out or CACHE / "models" / f"{args.model.name}-{args.outtype}.gguf"
    weights = max((p.stat().st_mtime for p in args.model.glob("*.safetensors")), default=0)
    if out.is_file() and out.stat().st_mtime >= weights:
        print(out)
        return 0
    print(convert(args.model.resolve(), out, args.outtype, args.src), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
