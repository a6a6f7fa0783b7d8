#!/usr/bin/env bash
# The whole GRPO throughput table on one GPU (issue #13), in one command; see benchmarks/README.md.
#
#   bash benchmarks/grpo_gpu_device.sh            # Qwen2.5-0.5B shapes, every arm (~8 min on an H100/H200, estimated)
#   bash benchmarks/grpo_gpu_device.sh 1.5b       # Qwen2.5-1.5B shapes, the arms that matter most (~5 min, estimated)
#
# Writes into $OUT (default out/grpo-gpu): grpo_<model>.json (every arm's record, rewritten after each
# arm so a cut-off run keeps what it finished), grpo_<model>.txt (the table), gpu.txt (nvidia-smi)
# and logs_<model>.tgz (each arm's worker output). Wheels in .whl/ (trl, datasets, ... for a machine
# whose Python lacks them: benchmarks/README.md says how to fetch them) are installed to /tmp/site first.
set -euo pipefail

MODEL=${1:-0.5b}
OUT=${OUT:-out/grpo-gpu}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv >"$OUT/gpu.txt" || true
"$PY" -c 'import torch, transformers, trl; print("torch", torch.__version__, "transformers", transformers.__version__, "trl", trl.__version__)' | tee -a "$OUT/gpu.txt"

case "$MODEL" in
    0.5b) ARMS="" ;;  # every arm
    1.5b) ARMS="--arms trl-defaults,no-grad-ckpt,bf16-weights,liger-kernels,lora,gen-vllm-colocate,recipe-full" ;;
    *) echo "model must be 0.5b or 1.5b, found $MODEL" >&2; exit 2 ;;
esac

LOGS=$(mktemp -d)
status=0
# shellcheck disable=SC2086  # ARMS is a flag and its value, or nothing
"$PY" benchmarks/grpo_gpu.py --model "$MODEL" $ARMS --timeout 240 \
    --json "$OUT/grpo_$MODEL.json" --logs "$LOGS" 2>&1 | tee "$OUT/grpo_$MODEL.txt" || status=$?
tar czf "$OUT/logs_$MODEL.tgz" -C "$LOGS" .
exit "$status"
