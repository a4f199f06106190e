#!/usr/bin/env bash
# Retrain the built-in model's committed checkpoints on corpus v3 and run the front protocol at full size, on a
# machine with a GPU and many cores (docs/groundtruth.md, docs/front.md say what each step is for):
#   1. the demo base (2400 steps) on the GPU -> generation/checkpoints/demo.pt (+ sidecar);
#   2. beside the rest, on the CPU: the ground-truth table of that base (docs/groundtruth.md);
#   3. `front --preset full` (5 training seeds x {beta=0, paper reward, prompt-gated reward}, 300 steps each,
#      on the GPU; then 55 variants evaluated on the CPU) with JOBS worker processes;
#   4. its seed-0 beta=0 and paper-reward finetunes are the committed demo-distilled.pt and demo-diverse.pt
#      (the same config as `python -m generation finetune --preset demo --beta 0|10`).
# The embeddings (generation/checkpoints/demo-embeddings.pt) are trained first, on any machine:
#   .venv/bin/python -m generation train-embeddings --preset demo --out generation/checkpoints/demo-embeddings.pt
# Usage: PYTHON=.venv/bin/python JOBS=16 BUDGET_SECONDS=560 [BENCH=1] bash scripts/gpu_retrain.sh [OUTDIR]
# Every step resumes: run it again to finish what a time limit cut short. OUTDIR (default var/gpu_retrain)
# receives the logs and a tarball of the results.
set -uo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
jobs=${JOBS:-16}
budget=${BUDGET_SECONDS:-3600}  # the steps below stop by then (the pretrain excepted), leaving 20 s to pack
out=${1:-var/gpu_retrain}
logs=var/gpu_retrain/logs  # packed into OUTDIR/results.tar.gz at the end
mkdir -p "$out" "$logs" runs/demo
export PYTHONUNBUFFERED=1
left() { echo $((budget - SECONDS - 20 > 1 ? budget - SECONDS - 20 : 1)); }
log() { echo "[$(date -u +%T)] $*" | tee -a "$out/steps.log"; }

log "start; $(nproc) cores; $("$py" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")')"
if [ "${BENCH:-0}" = 1 ]; then  # rendering against generation on otherwise idle CPU cores, beside the pretrain
  ( timeout "$(left)" "$py" benchmarks/generation.py --device cpu --max-batch 256 --repeats 3 \
      >"$logs/bench_generation.log" 2>&1; log "benchmarks/generation.py: exit $?" ) &
fi
for device in auto cpu; do  # the CPU (all its cores) only if the GPU run fails
  [ -f runs/demo/base.done ] && break
  threads=$([ $device = cpu ] && nproc || echo 4)
  pretrain="python -m generation --threads $threads pretrain --preset demo --out runs/demo/base.pt --skip-embeddings --device $device"
  "$py" ${pretrain#python } 2>&1 | tee -a "$logs/pretrain.log"
  status=${PIPESTATUS[0]}
  echo "$pretrain" >runs/demo/base.command
  log "pretrain on $device: exit $status"
  [ "$status" = 0 ] && touch runs/demo/base.done
done
[ -f runs/demo/base.done ] || { log "no base; stopping"; exit 1; }
cp runs/demo/base.pt generation/checkpoints/demo.pt
"$py" -c "from generation.checkpoint import write_sidecar as w; w('generation/checkpoints/demo.pt', command='$(cat runs/demo/base.command) (then copied here by scripts/gpu_retrain.sh)')"

if [ ! -f runs/groundtruth.done ]; then
  ( timeout "$(left)" "$py" -m generation.groundtruth_table --temperatures 0.6 0.8 --threads 4 \
      >"$logs/groundtruth.log" 2>&1 \
      && touch runs/groundtruth.done; log "groundtruth table: exit $?" ) &
fi

for device in auto cpu; do  # again on the CPU only if the GPU run fails (not when cut by the time limit)
  timeout "$(left)" "$py" -m generation front --preset full --jobs "$jobs" --out runs/full/front \
    --device $device >>"$logs/front.log" 2>&1
  status=$?
  log "front on $device: exit $status (124: cut by BUDGET_SECONDS; run again to resume)"
  [ "$status" = 0 ] || [ "$status" = 124 ] && break
done
wait
for pair in "beta0-seed0:demo-distilled:0" "paper-seed0:demo-diverse:10"; do
  IFS=: read -r src dst beta <<<"$pair"
  f=runs/full/front/finetunes/$src.pt
  if "$py" -c "import sys, torch; sys.exit(torch.load('$f', weights_only=False).get('optimizer') is not None)" 2>/dev/null; then
    cp "$f" "generation/checkpoints/$dst.pt"
    "$py" -c "from generation.checkpoint import write_sidecar as w; w('generation/checkpoints/$dst.pt', command='python -m generation front --preset full --jobs $jobs --out runs/full/front: its finetunes/$src.pt, copied here by scripts/gpu_retrain.sh (the config of python -m generation finetune --preset demo --beta $beta)')"
  fi
done
tar -cf "$out/checkpoints.tar" generation/checkpoints/demo.pt* generation/checkpoints/demo-distilled.pt* \
  generation/checkpoints/demo-diverse.pt* 2>/dev/null
tar -czf "$out/results.tar.gz" runs/full/front/front.* runs/full/front/cache docs/groundtruth.md \
  var/generation/groundtruth.json "$logs" 2>/dev/null
if [ ! -f runs/full/front/front.json ]; then  # unfinished: bring the finetunes back too, in parts of 15 MB
  tar -cf - runs/full/front/finetunes | split -b 15M - "$out/finetunes.tar.part-"
fi
log "done"
