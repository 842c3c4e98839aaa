#!/usr/bin/env bash
# Prepared check of issue 13 on one CUDA GPU, under 8 minutes in all (each part has its own
# time limit and the script goes on when one fails; the exit status says whether all passed):
#
#   1. correctness: bf16 + torch.compile + fused attention against fp32 eager, one paper-config
#      training step (bench/gpu_correctness.py; tolerances printed with the errors);
#   2. speed at the paper config: images/s, peak allocated memory and MFU, eager vs compiled
#      (bf16, batched field), then batched vs loop field and fp32 vs bf16 (eager), with the
#      swap-grid time;
#   3. a 1-GPU torchrun smoke run: tiny backbone, then tiny DisDiff over it, a few steps each.
#
#   bash bench/gpu_check.sh [OUT_DIR]     (default: a fresh temporary folder)
#
# Run from anywhere; it works in the repository. Results: OUT_DIR/*.log and *.json.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
cd "$repo" || exit 1
status=0

part() {  # part NAME SECONDS COMMAND...: run with a time limit, log to OUT/NAME.log
  local name="$1" limit="$2"
  shift 2
  echo "== $name (limit ${limit} s): $*"
  local start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || status=1
}

python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
  echo "no CUDA device visible to torch"; exit 2; }
python -c "import disdiff_cli, disdiff_plugins" 2>/dev/null || \
  pip install --quiet --no-deps --no-build-isolation -e . || exit 2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

part correctness 120 python bench/gpu_correctness.py --config paper
part speed-compile 150 python bench/bench_step.py --config paper --modes batched \
  --compile both --dtypes bf16 --steps 10 --json "$out/speed-compile.json"
part speed-field 100 python bench/bench_step.py --config paper --modes batched loop \
  --dtypes fp32 bf16 --steps 10 --sample --json "$out/speed-field.json"

smoke="$out/smoke"
mkdir -p "$smoke"
launch=(torchrun --standalone --nproc_per_node 1 -m disdiff_cli train)
cd "$smoke" || exit 1
part torchrun-backbone 45 "${launch[@]}" tiny/backbone --set train.steps=20 \
  --set train.checkpoint_every=10
part torchrun-disdiff 45 "${launch[@]}" tiny/disdiff --set train.steps=20 \
  --set train.checkpoint_every=10

echo "results in $out; $([ $status -eq 0 ] && echo 'all parts passed' || echo 'a part FAILED')"
exit $status
