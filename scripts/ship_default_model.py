"""Package a trained generator as the shipped default model: fp16 safetensors + model card inside the package.

    .venv/bin/python scripts/ship_default_model.py TRAINED.safetensors --name lipspade_utkface128_ngf24 \
        --template '[[0.30161,0.28331],...]' --card-json extra_card_fields.json

Prints the sha256 and size to enter in ``src/hifacegan/models/pretrained.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hifacegan.io import file_sha256
from hifacegan.models import load_model, read_weights, save_model
from hifacegan.models.pretrained import WEIGHTS_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trained", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--template", required=True, help="JSON 5x2 landmark template normalised to [0,1]")
    parser.add_argument("--card-json", type=Path, help="extra model-card fields (JSON object)")
    args = parser.parse_args()
    _, card = read_weights(args.trained)
    model = load_model(args.trained, for_inference=False)
    card["face_template"] = json.loads(args.template)
    if args.card_json:
        card.update(json.loads(args.card_json.read_text()))
    out = save_model(WEIGHTS_DIR / f"{args.name}.safetensors", model, card, dtype=torch.float16)
    print(json.dumps({"file": out.name, "sha256": file_sha256(out), "bytes": out.stat().st_size}))


if __name__ == "__main__":
    main()
