"""The model card (``models/<name>/README.md``), rendered from what the run recorded.

Inputs: the model folder (``config.json``, ``training_stats.json``, ``fim.json``),
the corpus ``manifest.json`` (packages, licenses, sizes) and the JSON report of
``reason-lsp eval --full``. Nothing in the card is typed by hand, so the numbers
in it are the numbers that were measured.

    python -m reason_lsp.training.card models/reason-code-small \\
        --manifest data/corpus/manifest.json --report runs/eval.json \\
        --command "reason-lsp train --minutes 115 ..." --eval-command "reason-lsp eval --full ..."
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _pct(x: object) -> str:
    return f"{100 * float(x):.1f}%" if isinstance(x, int | float) else "–"


def _num(x: object, fmt: str = ".3f") -> str:
    return format(float(x), fmt) if isinstance(x, int | float) else "–"


def _hardware(stats: dict) -> str:
    device = str(stats.get("device", "cpu"))
    if device.startswith("cuda"):
        return "one GPU"
    return f"the CPU ({stats['threads']} threads)" if "threads" in stats else "2 CPU cores"


def _precision(stats: dict) -> str:
    return "fp32" if stats.get("precision") == "fp32" else "bf16 autocast"


def _optimizer(stats: dict) -> str:
    if stats.get("optimizer") == "muon":
        return "Muon on the hidden matrices with AdamW on embeddings and norms"
    return "AdamW"


def _cpu_hours(stats: dict) -> str:
    """The run's CPU-hours: process CPU time, all threads, every resumed part summed."""
    if "cpu_hours" not in stats:
        return "CPU-hours not recorded for this run"
    threads = f", {stats['threads']} threads" if "threads" in stats else ""
    return f"{stats['cpu_hours']:.2f} CPU-hours of process time (all parts of the run{threads})"


def _lineage(stats: dict) -> list[str]:
    """A fine-tuned model's start, and the compute of both runs together."""
    parent = stats.get("init_stats")
    if not stats.get("init"):
        return []
    if not parent:
        return [f"- Continued from `{stats['init']}` (its training record is missing)."]
    minutes = parent.get("minutes", 0) + stats.get("minutes", 0)
    tokens = parent.get("tokens", 0) + stats.get("tokens", 0)
    return [
        f"- Continued from `{stats['init']}` as it was then: {parent.get('tokens', 0) / 1e6:.1f} M "
        f"tokens, {parent.get('steps', 0)} steps, {parent.get('minutes', 0):.0f} minutes, "
        f"{parent.get('seq_len', '?')}-token windows. Both runs together: "
        f"{tokens / 1e6:.1f} M tokens in {minutes:.0f} minutes of training."
    ]


def _examples(stats: dict) -> list[str]:
    if "repo_rate" not in stats:
        return []
    return [
        "- Examples: windows that start at a line and end at a line break, each ending with "
        f"`<|endoftext|>`; {100 * stats['repo_rate']:.0f}% with pieces of related files of "
        "the same distribution in front (`<file_sep>path` per file, the layout of the "
        f"server's prompts), the rest single files; FIM on {100 * stats.get('fim_rate', 0.5):.0f}%."
    ]


def _eval_table(report: dict) -> list[str]:
    rows = [
        "| | " + " | ".join(report["splits"]) + " |",
        "| --- |" + " --- |" * len(report["splits"]),
    ]

    def row(label: str, get) -> None:
        cells = []
        for split in report["splits"].values():
            try:
                cells.append(get(split))
            except (KeyError, TypeError):
                cells.append("–")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    row("bits per byte", lambda s: _num(s["bpb"]["bits_per_byte"]))
    row("next line: exact match", lambda s: _pct(s["next_line"]["exact"]))
    row("next line: edit similarity", lambda s: _num(s["next_line"]["edit_similarity"]))
    row(
        "identifier after `.`: top-1 / top-5",
        lambda s: f"{_pct(s['identifier']['model_top1'])} / {_pct(s['identifier']['model_top5'])}",
    )
    row(
        "Jedi at the same positions: top-1 / top-5",
        lambda s: f"{_pct(s['identifier']['jedi_top1'])} / {_pct(s['identifier']['jedi_top5'])}",
    )
    row(
        "FIM single-line exact (the server's order)",
        lambda s: f"{_pct(s['fim']['exact'])} ({s['fim']['order'].upper()})",
    )
    return rows


def _goals(report: dict) -> tuple[list[str], list[str]]:
    """Which of the project's goals every split meets."""
    checks = {
        "bits/byte under 0.8": lambda s: s["bpb"]["bits_per_byte"] < 0.8,
        "next-line exact match of 30%": lambda s: s["next_line"]["exact"] >= 0.3,
        "identifier top-1 at 3x Jedi": lambda s: (
            s["identifier"]["model_top1"] >= 3 * s["identifier"]["jedi_top1"]
        ),
    }
    met, missed = [], []
    for name, check in checks.items():
        try:
            ok = all(check(split) for split in report["splits"].values())
        except (KeyError, TypeError):
            continue
        (met if ok else missed).append(name)
    return met, missed


def render(
    model_dir: Path,
    manifest: dict,
    report: dict | None,
    command: str,
    eval_command: str,
    notes: str = "",
    baseline: dict | None = None,
) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    stats = json.loads((model_dir / "training_stats.json").read_text())
    fim = json.loads((model_dir / "fim.json").read_text())
    weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    splits = manifest["splits"]
    train_pkgs = [p for p in manifest["packages"] if p["split"] == "train"]
    held = [p for p in manifest["packages"] if p["split"] != "train"]
    held_stdlib = sorted(
        {p["package"].split(":")[-1] for p in held if p["split"] == "valid_stdlib"}
    )
    dtype = config.get("dtype", config.get("torch_dtype", "bfloat16"))
    lines = [
        f"# {model_dir.name}",
        "",
        "The default model of reason-lsp: a small code model trained by the project, offline,",
        "on permissively licensed Python, with fill-in-the-middle. It is what the server",
        "uses out of the box; point `reasonLsp.model` at any Hugging Face causal LM for",
        "better completions.",
        "",
        "## Model",
        "",
        f"- Architecture: stock `{config.get('architectures', ['LlamaForCausalLM'])[0]}` "
        f"(loads with `AutoModelForCausalLM.from_pretrained` and no custom code).",
        f"- Shape: hidden {config['hidden_size']}, {config['num_hidden_layers']} layers, "
        f"{config['num_attention_heads']} heads ({config['num_key_value_heads']} key/value), "
        f"MLP {config['intermediate_size']}, vocabulary {config['vocab_size']}, tied embeddings; "
        f"{stats.get('parameters', 0) / 1e6:.2f} M parameters.",
        f"- Context: trained on {stats.get('seq_len', '?')}-token windows; "
        f"`max_position_embeddings` is set to that, so the engine never sends longer prompts.",
        f"- Weights: `model.safetensors`, {dtype}, {weights / 1e6:.1f} MB.",
        "- Tokenizer: byte-level BPE trained on the corpus (`tokenizer.json`). Special tokens",
        "  (ids 0–5): `<|endoftext|>`, `<fim_prefix>`, `<fim_middle>`, `<fim_suffix>`,",
        "  `<fim_pad>`,",
        "  `<file_sep>`. The pre-tokenizer attaches the last space of an indent to the next",
        "  word, so a prompt ending in spaces or mid-word needs token healing (the engine",
        "  does it).",
        f"- Fill-in-the-middle (`fim.json`): rate 0.5, orders {', '.join(fim['orders']).upper()}",
        "  (Bavarian et al. 2022). PSM: `<fim_prefix>P<fim_suffix>S<fim_middle>M<|endoftext|>`;",
        "  SPM (joint variant): `<fim_prefix><fim_suffix>S<fim_middle>PM<|endoftext|>`. The",
        "  engine uses SPM, which keeps the growing prefix last so its cache survives typing.",
        "",
        "## Training",
        "",
        f"- {stats.get('tokens', 0) / 1e6:.1f} M tokens in {stats.get('steps', 0)} steps, "
        f"{stats.get('minutes', 0):.0f} minutes on {_hardware(stats)} "
        f"({_precision(stats)}), {_optimizer(stats)}, "
        "warmup-stable-decay learning rate (decay over the last quarter).",
        f"- Compute: {_cpu_hours(stats)}.",
        *_lineage(stats),
        *_examples(stats),
        f"- Command: `{command}`",
        "- Resumable (`--resume`), and a starting point for fine-tuning on your own code:",
        f"  `reason-lsp train --init models/{model_dir.name} --corpus ~/myrepo --out DIR "
        "--minutes 30`,",
        "  then set `reasonLsp.model` to `DIR`.",
        "",
        "## Evaluation",
        "",
        "Held out by package, never seen in training: stdlib packages "
        f"{', '.join(held_stdlib)} "
        "(with their tests) and third-party distributions "
        f"{', '.join(sorted(p['package'] for p in held if p['split'] == 'valid_thirdparty'))}.",
        "",
    ]
    if report is not None:
        lines += [*_eval_table(report), "", f"Command: `{eval_command}`", ""]
        if baseline is not None:
            lines += [
                f"The model this one replaced (`{baseline.get('model', '?')}` as it was), "
                "with the same command on the same splits:",
                "",
                *_eval_table(baseline),
                "",
            ]
        met, missed = _goals(report)
        lines += [
            "Goals from the project: under 0.8 bits/byte, next-line exact match at or above",
            "30%, identifier top-1 at three times Jedi's or better.",
            f"Met on both held-out splits: {', '.join(met) or 'none'}. "
            f"Not met: {', '.join(missed) or 'none'}. More tokens (a GPU run) and a bigger "
            "model are what move the rest.",
            "",
        ]
    if notes:
        lines += ["## Known weaknesses", "", notes, ""]
    lines += [
        "## Data",
        "",
        f"Training: {splits['train']['files']} files, {splits['train']['bytes'] / 1e6:.1f} MB; "
        f"validation: {splits['valid_stdlib']['files']} stdlib files "
        f"({splits['valid_stdlib']['bytes'] / 1e6:.1f} MB) and "
        f"{splits['valid_thirdparty']['files']} "
        f"third-party files ({splits['valid_thirdparty']['bytes'] / 1e6:.1f} MB). "
        "Files are the Python "
        "sources installed on the build machine: the CPython standard library with its tests "
        "(PSF-2.0) and installed distributions whose metadata declares a permissive license; "
        "filtered (size, line length, generated code), deduplicated by content, at most 3 MB per "
        "distribution. Rebuild with `reason-lsp build-corpus`.",
        "",
        "| package | license | files | MB | split |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in sorted(train_pkgs + held, key=lambda p: (p["split"], p["package"])):
        lines.append(
            f"| {p['package']} | {p['license'][:60]} | {p['files']} "
            f"| {p['bytes'] / 1e6:.2f} | {p['split']} |"
        )
    excluded = ", ".join(
        f"{e['package']} ({e['license'][:30]})" for e in manifest.get("excluded", [])
    )
    lines += ["", f"Excluded for their license: {excluded or 'none'}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a model card from the run's records.")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.json"))
    parser.add_argument("--report", type=Path, help="JSON from reason-lsp eval --full --json")
    parser.add_argument("--command", required=True, help="the training command")
    parser.add_argument("--eval-command", default="")
    parser.add_argument("--notes", default="", help="known weaknesses, in prose")
    parser.add_argument("--baseline", type=Path, help="the replaced model's eval --full JSON")
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    report = json.loads(args.report.read_text()) if args.report else None
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    text = render(
        args.model_dir, manifest, report, args.command, args.eval_command, args.notes, baseline
    )
    (args.model_dir / "README.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
