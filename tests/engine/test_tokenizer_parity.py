"""Declaring our tokenizer's pre-tokenizer ``gpt-2`` in the GGUF is right: Hugging Face and
llama.cpp give identical token ids on real code, special tokens included."""

from __future__ import annotations

import httpx
from conftest import MODEL, ROOT, LlamaServer
from transformers import AutoTokenizer

from reason_lsp.engine import fim


def llama_ids(llama: LlamaServer, text: str, parse_special: bool) -> list[int]:
    body = {"content": text, "add_special": False, "parse_special": parse_special}
    return httpx.post(f"{llama.root}/tokenize", json=body, timeout=60).json()["tokens"]


def test_identical_token_ids_on_real_code_special_tokens_included(llama: LlamaServer) -> None:
    tok = AutoTokenizer.from_pretrained(MODEL)
    files = sorted((ROOT / "reason_lsp").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    compared = mismatched = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        hf = tok.encode(text, add_special_tokens=False)
        ours = llama_ids(llama, text, parse_special=True)  # HF parses them in text too
        compared += len(hf)
        if hf != ours:
            mismatched += 1
            at = next(i for i, (a, b) in enumerate(zip(hf, ours, strict=False)) if a != b)
            raise AssertionError(f"{path}: first difference at token {at}")
    assert compared > 100_000, compared
    print(f"\n{compared} tokens in {len(files)} files: {mismatched} files differ")
    # Special tokens: a FIM prompt as the backend sends it, with a file separator.
    snippet = (ROOT / "reason_lsp" / "engine" / "fim.py").read_text(encoding="utf-8")[:2000]
    prompt = (f"{fim.FILE_SEP}pkg/util.py\n{snippet}\n" + fim.spm_text(fim.REASON, snippet[:900],
              snippet[900:]) + fim.EOS)  # fmt: skip
    hf = tok.encode(prompt, add_special_tokens=False)
    assert llama_ids(llama, prompt, parse_special=True) == hf
    assert {0, 1, 2, 3, 5} <= set(hf)  # <|endoftext|>, the FIM markers and <file_sep>
