#!/usr/bin/env bash
# Train the shipped default model on one GPU with a wall-clock budget, then export it in half precision.
#
# Used with the project's lent GPU machine (no internet, no ../shared there): the training data and the
# offline MobileNetV2 weights travel in .devcarry/ (git-ignored), prepared by scripts/prepare_devcarry.py.
# Trains configs/default_utkface128.yaml (its recipe, with a GPU batch and a time budget).
#   bash scripts/train_default_gpu.sh OUT_DIR [MINUTES] [NGF]
# Writes OUT_DIR/train.log, OUT_DIR/model.safetensors.part-* (fp16, split for transfer), model card and metrics.
set -euo pipefail
out=${1:?OUT_DIR}
minutes=${2:-7.5}
ngf=${3:-24}
batch=${BATCH:-32}
workers=${WORKERS:-14}
run=${RUN_DIR:-/tmp/hifacegan-default}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export HIFACEGAN_MOBILENET_V2=$PWD/.devcarry/mobilenet_v2-b0353104.pth
mkdir -p "$out"
# The images travel as one archive (10,500 small files would exceed the transfer limit in block overhead).
if [ -f .devcarry/utkface128.tar.gz ] && [ ! -d .devcarry/utkface128 ]; then tar xzf .devcarry/utkface128.tar.gz -C .devcarry; fi
python3 - train configs/default_utkface128.yaml \
    --set run_dir="$run" \
    --set data.train_root=.devcarry/utkface128/train --set data.val_root=.devcarry/utkface128/val \
    --set model.ngf="$ngf" --set train.max_minutes="$minutes" --set train.batch_size="$batch" \
    --set train.steps=1000000 --set train.decay_steps=0 \
    --set train.ckpt_every=2000 --set train.val_every=1500 --set train.log_every=100 \
    --set data.num_workers="$workers" 2>&1 <<'PY' | tee "$out/train.log"
import argparse, logging, sys
from hifacegan.cli import train
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
parser = argparse.ArgumentParser()
train.add_parser(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
PY
python3 - "$run/final.safetensors" "$out/model.safetensors" <<'PY'
import sys, torch
from hifacegan.models import load_model, read_weights, save_model
_, card = read_weights(sys.argv[1])
model = load_model(sys.argv[1], for_inference=False)
save_model(sys.argv[2], model, card, dtype=torch.float16)
PY
cp "$run"/metrics.jsonl "$run"/config.yaml "$run"/environment.json "$out"/ 2>/dev/null || true
split -b 15M "$out/model.safetensors" "$out/model.safetensors.part-" && rm "$out/model.safetensors"
ls -la "$out"
# GPU forward speed of the networks (appended to the log; bounded so the outputs above always come back).
if command -v nvidia-smi >/dev/null; then
  for dtype in float32 bfloat16; do
    timeout 60 python3 benchmarks/forward_speed.py --device cuda --dtype "$dtype" --repeats 10 \
      --models lipspade:48 "lipspade:$ngf" --sizes 128 512 >> "$out/train.log" 2>&1 || true
  done
fi
