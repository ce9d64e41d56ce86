"""The shipped model (``models/reason-code-small``): loads offline, small, FIM-aware, writes Python.

Skipped only while the folder does not exist (before the first model is committed).
``REASON_LSP_SHIPPED_MODEL=DIR`` points the same checks at a candidate folder.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(os.environ.get("REASON_LSP_SHIPPED_MODEL") or ROOT / "models" / "reason-code-small")
MAX_BYTES = 60 * 1024 * 1024

pytestmark = pytest.mark.skipif(not MODEL.is_dir(), reason="shipped model not built yet")

#: Prompts whose next line (or block) a code model must write as valid Python.
PROMPTS = (
    "def add(a, b):\n    return",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n",
    "import os\nimport sys\n",
    "for i in range(10):\n",  # v1 wrote only comment lines here; v2 writes the body
    'if __name__ == "__main__":\n',
)


@pytest.fixture(scope="module")
def lm():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from reason_lsp.training.quality import load_decoder

    return load_decoder(MODEL, 512)


def test_loads_offline_with_auto_classes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reason_lsp.engine import fim

    model = AutoModelForCausalLM.from_pretrained(MODEL, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(MODEL, local_files_only=True)
    assert model.config.model_type in ("llama", "qwen2")
    assert tok.convert_tokens_to_ids(list(fim.SPECIAL_TOKENS)) == list(range(6))
    assert len(tok) <= model.config.vocab_size
    assert tok.decode(tok("x = 1\n", add_special_tokens=False)["input_ids"]) == "x = 1\n"


def test_weights_are_half_precision_safetensors_under_60_mb():
    from safetensors import safe_open

    files = sorted(MODEL.glob("*.safetensors"))
    assert files, "no safetensors in the model folder"
    assert not list(MODEL.glob("*.bin")) and not list(MODEL.glob("*.pt"))
    assert sum(f.stat().st_size for f in files) < MAX_BYTES
    for path in files:
        with safe_open(path, framework="pt") as f:
            names = list(f.keys())
            dtypes = {f.get_slice(name).get_dtype() for name in names}
        assert dtypes <= {"BF16", "F16"}, (path.name, dtypes)


def test_fim_format_is_recorded():
    from reason_lsp.engine import fim

    assert (MODEL / fim.FIM_RECORD).is_file()
    recorded = fim.read_record(MODEL)
    assert recorded is not None and set(recorded.orders) == {"psm", "spm"}
    assert recorded.prefix == fim.FIM_PREFIX and recorded.middle == fim.FIM_MIDDLE


def test_model_card_exists():
    card = MODEL / "README.md"
    assert card.is_file(), "the model card (data, licenses, size, command, numbers) is missing"


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _parsable_cut(prompt: str, continuation: str, finished: bool) -> str | None:
    """The shortest cut of ``continuation`` at a line end, with new code, that parses."""
    lines = continuation.split("\n")
    if not finished:
        lines = lines[:-1]  # the last line may be cut mid-way by the token limit
    for k in range(1, len(lines) + 1):
        new = "\n".join(lines[:k])
        if new.strip() and _parses(prompt + new + "\n"):
            return new
    return None


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_continuations_parse(lm, prompt):
    from reason_lsp.engine import GenerateRequest

    sample = lm.generate(GenerateRequest(prefix=prompt, max_new_tokens=64, key="t")).samples[0]
    text = sample.text
    cut = _parsable_cut(prompt, text, finished=sample.finish == "eos")
    assert cut is not None, f"no line of {text!r} completes {prompt!r} as Python"


@pytest.mark.slow
def test_the_wheel_carries_the_model(tmp_path):
    """`pip install` of the built wheel works offline: the model is inside the package."""
    import subprocess
    import sys
    import zipfile

    root = MODEL.parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("reason_lsp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    inside = f"reason_lsp/models/{MODEL.name}"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "fim.json", "README.md"):
        assert f"{inside}/{name}" in names
