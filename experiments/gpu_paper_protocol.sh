#!/usr/bin/env bash
# The paper's protocol end to end on one GPU in about 8 minutes: VQ autoencoder -> latent backbone
# -> DisDiff and the same recipe with lambda = 0 -> exact evaluation, then one table.
#
#   bash experiments/gpu_paper_protocol.sh [WORK]        # WORK defaults to experiments/work/gpu
#   SMOKE=1 bash experiments/gpu_paper_protocol.sh /tmp/w   # a few steps each: checks the script
#
# Data: synth-shapes3d at 32x32, the whole Shapes3D grid (10 floor x 10 wall x 10 object hues x
# 8 scales x 4 shapes x 15 orientations = 480,000 images; about 35 s to render on one core).
# Networks are the paper recipes (recipes/shapes3d/*) with the spatial sizes of a 32 px image
# (latent 8x8x3, attention at 8/4/2 px) and short warm-ups.
#
# Every training stage is bounded by wall-clock time (train.time_limit_s), so the protocol fits
# its budget whatever the GPU's speed; the step counts are only upper bounds. Knobs (environment):
# AE_SECONDS, BACKBONE_SECONDS, DISDIFF_SECONDS (each DisDiff run), EVAL_SEEDS, EVAL_BATCH, BATCH.
# The two DisDiff runs (lambda 0.05 and 0) train at the same time on the one GPU, each for the
# same wall-clock time; their evaluations also run side by side. Every stage prints its own
# progress (steps/s in the log lines); the last lines are the table.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-experiments/work/gpu}
if [[ "${SMOKE:-0}" == 1 ]]; then
  AE_STEPS=2; BACKBONE_STEPS=2; DISDIFF_STEPS=2; AE_SECONDS=60; BACKBONE_SECONDS=60
  DISDIFF_SECONDS=60; BATCH=8; EVAL_SEEDS=1; SAMPLE_STEPS=2
  EVAL_SET=(--set factorvae.num_train=200 --set factorvae.num_eval=100
            --set factorvae.num_variance_estimate=500 --set dci.num_train=200 --set dci.num_test=100
            --set mig.num_train=500)
else
  AE_STEPS=20000; BACKBONE_STEPS=50000; DISDIFF_STEPS=50000
  AE_SECONDS=${AE_SECONDS:-60}; BACKBONE_SECONDS=${BACKBONE_SECONDS:-120}
  DISDIFF_SECONDS=${DISDIFF_SECONDS:-150}; BATCH=${BATCH:-128}; EVAL_SEEDS=${EVAL_SEEDS:-1}
  SAMPLE_STEPS=50; EVAL_SET=()
fi
mkdir -p "$WORK"
STORE=$WORK/synth-shapes3d-32.zarr
START=$(date +%s)
stamp() { echo "[$(( $(date +%s) - START )) s] $*"; }

stamp "data"
[[ -d $STORE ]] || disdiff data prepare synth-shapes3d --out "$STORE" --set size=32
COMMON=(--set "data.store=$STORE" --set data.prepare=null --set data.source=null
        --set "train.batch_size=$BATCH" --set train.log_every=100)
SAMPLER=(--set "sample.sampler.params.steps=$SAMPLE_STEPS")

stamp "autoencoder"
[[ -f $WORK/autoencoder/weights/first_stage.safetensors ]] || disdiff train shapes3d/autoencoder \
  --out "$WORK/autoencoder" "${COMMON[@]}" --set "train.steps=$AE_STEPS" \
  --set "train.time_limit_s=$AE_SECONDS" --set train.checkpoint_every=null \
  --set first_stage.params.n_embed=512

stamp "backbone"
[[ -f $WORK/backbone/weights/backbone.safetensors ]] || disdiff train shapes3d/backbone \
  --out "$WORK/backbone" "${COMMON[@]}" "${SAMPLER[@]}" --set "first_stage.from_run=$WORK/autoencoder" \
  --set backbone.params.image_size=8 --set "backbone.params.attention_resolutions=[8, 4, 2]" \
  --set "train.steps=$BACKBONE_STEPS" --set "train.time_limit_s=$BACKBONE_SECONDS" \
  --set train.warmup_steps=500 --set train.ema_decay=0.999 --set train.checkpoint_every=null \
  --set train.sample_every=null

LAMBDAS=(0.05 0.0)
disdiff_run() {  # disdiff_run LAMBDA: train one DisDiff run, then its exact evaluation
  local run=$WORK/disdiff-lambda$1
  [[ -f $run/weights/field.safetensors ]] || disdiff train shapes3d/disdiff --out "$run" \
    "${COMMON[@]}" "${SAMPLER[@]}" --set "backbone.from_run=$WORK/backbone" \
    --set "first_stage.from_run=$WORK/backbone" --set encoder.params.image_size=32 \
    --set "losses.1.params.weight=$1" --set "train.steps=$DISDIFF_STEPS" \
    --set "train.time_limit_s=$DISDIFF_SECONDS" --set train.warmup_steps=300 \
    --set train.ema_decay=0.999 --set train.checkpoint_every=null
  disdiff eval "$run" --seeds "$EVAL_SEEDS" --metrics factorvae,dci,mig "${EVAL_SET[@]}" \
    --batch-size "${EVAL_BATCH:-1024}" \
    --json > "$run/eval-summary.json"
}
stamp "DisDiff, lambda ${LAMBDAS[*]} side by side, then their exact evaluation"
pids=()
for LAMBDA in "${LAMBDAS[@]}"; do
  disdiff_run "$LAMBDA" > "$WORK/disdiff-lambda$LAMBDA.log" 2>&1 & pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "DisDiff lambda ${LAMBDAS[$i]} failed:";
                          tail -30 "$WORK/disdiff-lambda${LAMBDAS[$i]}.log"; exit 1; }
  grep -E "step +[0-9]+|steps/s" "$WORK/disdiff-lambda${LAMBDAS[$i]}.log" | tail -3 || true
done

stamp "table"
python - "$WORK" "${LAMBDAS[@]}" <<'EOF'
import json
import sys
from pathlib import Path

work, lambdas = Path(sys.argv[1]), sys.argv[2:]
columns = [("FactorVAE", "factorvae", "eval_accuracy"), ("DCI dis.", "dci", "disentanglement"),
           ("MIG", "mig", "discrete_mig")]
logged = ["acc_invariant", "acc_variant", "w", "steps_per_s"]


def last_logged(run: Path) -> dict:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r][-1]


for stage in ("autoencoder", "backbone"):
    info = json.loads((work / stage / "run.json").read_text())
    print(f"{stage}: {info['step']} steps, {last_logged(work / stage)['steps_per_s']:.1f} steps/s")
print("| condition | steps | " + " | ".join(label for label, _, _ in columns) + " | "
      + " | ".join(logged) + " |")
print("|---|---|" + "---|" * (len(columns) + len(logged)))
for lam in lambdas:
    run = work / f"disdiff-lambda{lam}"
    metrics = json.loads((run / "eval-summary.json").read_text())["metrics"]
    cells = [f"{metrics[m][n]['mean']:.3f} ± {metrics[m][n]['std']:.3f}" for _, m, n in columns]
    last = last_logged(run)
    cells += [f"{last[key]:.3f}" if key in last else "–" for key in logged]
    steps = json.loads((run / "run.json").read_text())["step"]
    print(f"| DisDiff λ = {lam} | {steps} | " + " | ".join(cells) + " |")
EOF
stamp "done"
