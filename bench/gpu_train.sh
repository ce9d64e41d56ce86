#!/usr/bin/env bash
# The lent-GPU training run in one command: packed corpus in, model folder and log out.
#
# On the device machine (an H200; the call carries data/gpu, made here by
# `python -m reason_lsp.training.cli pack-corpus --tokens 128e6`):
#
#   bench/gpu_train.sh                       # $OUT gets the shards, model-files.tar, train.log
#
# It trains a stock LlamaForCausalLM (shape "gpu", 26.7 M parameters) in bf16 for a fixed
# wall-clock on the pre-tokenized stream, evaluates held-out bits/byte on the GPU, exports
# bf16 safetensors in at most 4 shards of 15 MB, checks the folder loads, and leaves at
# most 8 files in $OUT (what comes back from the device): the shards, model-files.tar
# (config, index, tokenizer, fim.json, training_stats.json) and train.log.
#
# Dry run here, on the CPU, with the same script (one minute, tiny shape):
#
#   GPU_TRAIN_DEVICE=cpu GPU_TRAIN_SHAPE=tiny GPU_TRAIN_MINUTES=1 GPU_TRAIN_BATCH=2 \
#     OUT=/tmp/gpu-out bench/gpu_train.sh
#
# Back here, make the model folder from what came back:
#
#   bench/gpu_train.sh unpack FILES_AT models/reason-code-gpu
#
# Settings (environment): GPU_TRAIN_DEVICE (cuda), GPU_TRAIN_SHAPE (gpu), GPU_TRAIN_MINUTES
# (7.5: training wall-clock; the whole command takes about a minute more),
# GPU_TRAIN_BATCH (64 rows of 1,024 tokens), GPU_TRAIN_OPTIMIZER (muon), GPU_TRAIN_LR
# (2e-3), GPU_TRAIN_MUON_LR (0.02), GPU_TRAIN_WARMUP (200), GPU_TRAIN_COMPILE (0),
# GPU_TRAIN_EVAL_BYTES (0: all held-out bytes), GPU_TRAIN_PACK (data/gpu),
# GPU_TRAIN_RUN (a scratch folder for checkpoints), PY (python).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "unpack" ]]; then
    src=${2:?usage: bench/gpu_train.sh unpack FILES_AT DEST}
    dest=${3:?usage: bench/gpu_train.sh unpack FILES_AT DEST}
    mkdir -p "$dest"
    cp "$src"/*.safetensors "$dest"/
    tar -xf "$src/model-files.tar" -C "$dest"
    cp "$src/train.log" "$dest/gpu_train.log"
    echo "model folder: $dest"
    ls -l "$dest"
    exit 0
fi

: "${OUT:?OUT must name the folder the results go to}"
DEVICE=${GPU_TRAIN_DEVICE:-cuda}
SHAPE=${GPU_TRAIN_SHAPE:-gpu}
MINUTES=${GPU_TRAIN_MINUTES:-7.5}
BATCH=${GPU_TRAIN_BATCH:-64}
OPTIMIZER=${GPU_TRAIN_OPTIMIZER:-muon}
LR=${GPU_TRAIN_LR:-2e-3}
MUON_LR=${GPU_TRAIN_MUON_LR:-0.02}
WARMUP=${GPU_TRAIN_WARMUP:-200}
EVAL_BYTES=${GPU_TRAIN_EVAL_BYTES:-0}
PACK=${GPU_TRAIN_PACK:-data/gpu}
RUN=${GPU_TRAIN_RUN:-$(mktemp -d /tmp/gpu-train.XXXXXX)}
if [[ -z "${PY:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false

run() {
echo "== gpu_train.sh $(date -u +%FT%TZ): device $DEVICE, shape $SHAPE, $MINUTES min, batch $BATCH, $OPTIMIZER"
start=$(date +%s)

[[ -f "$PACK/meta.json" ]] || { echo "no packed corpus at $PACK (pack-corpus makes it)"; exit 2; }
if [[ "$DEVICE" == cuda* ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PY" - "$DEVICE" <<'EOF'
import sys, torch, transformers, tokenizers
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
if sys.argv[1].startswith("cuda") and not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device")
EOF
if [[ "$OPTIMIZER" == muon ]] && ! "$PY" -c "import torch; torch.optim.Muon" 2>/dev/null; then
    echo "this torch has no torch.optim.Muon: training with AdamW instead"
    OPTIMIZER=adamw
fi

valid=()
for split in "$PACK"/valid_*.jsonl.xz; do
    [[ -f "$split" ]] && valid+=(--valid "$split")
done
compile=()
[[ "${GPU_TRAIN_COMPILE:-0}" == 1 ]] && compile=(--compile)

"$PY" -m reason_lsp.training.cli train \
    --packed "$PACK" --device "$DEVICE" --shape "$SHAPE" --seq-len 1024 \
    --batch "$BATCH" --minutes "$MINUTES" --precision bf16 \
    --optimizer "$OPTIMIZER" --lr "$LR" --muon-lr "$MUON_LR" --warmup "$WARMUP" \
    "${valid[@]}" --eval-bytes "$EVAL_BYTES" --eval-minutes 1000 --ckpt-minutes 1000 \
    --max-shard-mb 15 --out "$RUN/model" --run-dir "$RUN" "${compile[@]}"

# What comes back: at most 8 files of at most 16 MiB. Check it before the call ends.
model="$RUN/model"
small=(config.json model.safetensors.index.json tokenizer.json tokenizer_config.json
       special_tokens_map.json fim.json training_stats.json generation_config.json)
present=()
for f in "${small[@]}"; do [[ -f "$model/$f" ]] && present+=("$f"); done
tar -cf "$OUT/model-files.tar" -C "$model" "${present[@]}"
cp "$model"/*.safetensors "$OUT"/
"$PY" - "$model" "$OUT" <<'EOF'
import json, pathlib, sys, torch
from transformers import AutoModelForCausalLM
model_dir, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
shards = sorted(model_dir.glob("*.safetensors"))
sizes = [p.stat().st_size for p in shards]
files = [p for p in out.iterdir() if p.is_file()]
print(f"shards: {len(shards)}, largest {max(sizes) / 2**20:.1f} MiB; files in OUT: {len(files)}")
assert len(shards) <= 4 and max(sizes) <= 15 * 2**20, "shards over the 4 x 15 MiB limit"
assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files), "OUT over the limit"
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
with torch.inference_mode():
    logits = model(input_ids=torch.tensor([[0, 100, 200, 300]])).logits
assert torch.isfinite(logits).all(), "the exported model gives non-finite logits"
stats = json.loads((model_dir / "training_stats.json").read_text())
print("load check ok; stats:", json.dumps(stats))
EOF
echo "== done in $(( $(date +%s) - start )) s; OUT:"
ls -l "$OUT"
}

mkdir -p "$OUT"
set -o pipefail
run 2>&1 | tee "$OUT/train.log"
