"""Config loading: unknown keys and wrong types are rejected, overrides are parsed as literals."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from hifacegan.training.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    parse_override,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_reads_file_with_exponent_floats_and_lists(tmp_path):
    config = load_config(_write(tmp_path, "model:\n  ngf: 16\ntrain:\n  lr_g: 1e-4\n  lr_d: 4E-4\n"
                                          "data:\n  tasks: [sr4x, jpeg]\n  max_items: null\n"))
    assert config.model.ngf == 16 and config.train.lr_g == 1e-4 and config.train.lr_d == 4e-4
    assert config.data.tasks == ("sr4x", "jpeg") and config.data.max_items is None
    assert config.model.variant == "hifacegan"  # untouched defaults


@pytest.mark.parametrize(("text", "match"), [
    ("modle:\n  ngf: 8\n", r"unknown config key 'modle'.*Did you mean 'model'"),
    ("train:\n  lr: 1e-4\n", r"unknown config key 'train.lr'.*'lr_g'"),
    ("train:\n  steps: ten\n", r"train.steps: expected int, got 'ten'"),
    ("train:\n  steps: 10.5\n", r"train.steps: expected int"),
    ("train:\n  steps: true\n", r"train.steps: expected int"),
    ("data:\n  flip: 1\n", r"data.flip: expected bool"),
    ("data:\n  tasks: [sr4x, 3]\n", r"data.tasks\[1\]: expected str"),
    ("data:\n  max_items: many\n", r"data.max_items: expected int \| None"),
    ("loss:\n  perceptual_net: vgg16\n", r"loss.perceptual_net='vgg16' is not valid.*'mobilenet_v2'"),
    ("data:\n  size: 100\n", r"multiple of 32"),
    ("data:\n  max_items: 0\n", r"data.max_items must be at least 1 \(or null: every image\), got 0"),
    ("data:\n  val_max_items: -3\n", r"data.val_max_items must be at least 1"),
    ("train:\n  steps: 10\n  decay_steps: 20\n", r"cannot exceed"),
    ("model: 3\n", r"model: expected a mapping"),
    ("- a\n- b\n", r"mapping at the top level"),
    ("train: [\n", r"not valid YAML"),
])
def test_rejects_invalid_files(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_apply_in_order_with_literal_values(tmp_path):
    path = _write(tmp_path, "train:\n  steps: 10\n  lr_g: 1e-4\n")
    config = load_config(path, ["train.steps=20", "train.lr_g=2e-4", "data.tasks=[deblur,denoise]",
                                "data.max_items=null", "run_dir=runs/x y", "train.amp=off", "train.steps=30",
                                "loss.l1=1", "data.flip=false"])
    assert config.train.steps == 30 and config.train.lr_g == 2e-4
    assert config.data.tasks == ("deblur", "denoise") and config.data.max_items is None
    assert config.run_dir == "runs/x y" and config.train.amp == "off"
    assert config.loss.l1 == 1.0 and isinstance(config.loss.l1, float) and config.data.flip is False


@pytest.mark.parametrize(("override", "match"), [
    ("train.stepz=3", r"unknown config key 'train.stepz'.*'steps'"),
    ("optim.lr=3", r"unknown config key 'optim.lr'"),
    ("steps=3", r"unknown config key 'steps'"),
    ("train.steps", r"must look like section.key=value"),
    ("train.steps=abc", r"train.steps: expected int"),
    ("train.steps={a: 1}", r"one key at a time"),
])
def test_rejects_bad_overrides(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_override_values_are_never_evaluated():
    key, value = parse_override("run_dir=__import__('os').system('echo pwned')")
    assert key == "run_dir" and value == "__import__('os').system('echo pwned')"
    assert apply_overrides({}, ["train.seed=3"]) == {"train": {"seed": 3}}


def test_dump_round_trips(tmp_path):
    config = load_config(None, ["data.tasks=[sr4x]", "train.lr_g=3e-5", "data.max_items=5"])
    again = load_config(_write(tmp_path, dump_config(config)))
    assert again == config


def test_config_is_frozen():
    config = config_from_dict({})
    with pytest.raises(AttributeError):
        config.train.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", ["ffhq512_paper.yaml", "tiny_cpu.yaml"])
def test_paper_recipe_configs_load(name):
    config = load_config(CONFIGS / name)
    assert config.train.lr_g == 1e-4 and config.train.lr_d == 4e-4
    assert (config.train.beta1, config.train.beta2) == (0.0, 0.9)
    assert config.loss.feat == 10.0 and config.loss.perceptual == 10.0


def test_default_model_config_is_the_shipped_recipe():
    # Stage 1 of the shipped model's recipe (its card names both stages): lipspade-24, 128 px, six tasks, G-only.
    config = load_config(CONFIGS / "default_utkface128.yaml")
    m, d, t = config.model, config.data, config.train
    assert (m.variant, m.ngf, d.size) == ("lipspade", 24, 128)
    assert set(d.tasks) == {"renovation", "sr4x", "sr16x", "denoise", "deblur", "jpeg"} and d.degradation_scale
    assert t.warmup_steps >= t.steps and t.warmup_l1 == 10.0 and config.loss.perceptual_net == "mobilenet_v2"


def _assert_continues_with_new_schedule_and_mix(before, after):
    # A later stage of the shipped model: same network, data, losses and G-only recipe as the stage it
    # starts from; only the learning-rate schedule, the task shares and the starting weights differ.
    assert after.model.pretrained
    assert dataclasses.replace(after.model, pretrained=before.model.pretrained) == before.model
    assert after.loss == before.loss
    assert dataclasses.replace(after.data, tasks=before.data.tasks) == before.data
    assert set(after.data.tasks) == set(before.data.tasks)
    t0, t1 = before.train, after.train
    assert t1.warmup_steps >= t1.steps and (t1.warmup_l1, t1.batch_size, t1.ema_decay) == (
        t0.warmup_l1, t0.batch_size, t0.ema_decay)


def test_default_model_finetune_stage_changes_only_the_schedule_and_task_mix():
    stage1 = load_config(CONFIGS / "default_utkface128.yaml")
    stage2 = load_config(CONFIGS / "default_utkface128_finetune.yaml")
    assert not stage1.model.pretrained
    _assert_continues_with_new_schedule_and_mix(stage1, stage2)
    shares = Counter(stage2.data.tasks)
    assert [shares[t] for t in ("sr4x", "sr16x", "deblur", "jpeg")] == [2, 2, 2, 2]
    assert shares["renovation"] == shares["denoise"] == 1


@pytest.mark.parametrize(("before_name", "after_name", "shares"), [
    # Stage 3: more deblur and jpeg, the two tasks closest to their inputs after stage 2.
    ("default_utkface128_finetune", "default_utkface128_stage3",
     {"deblur": 3, "jpeg": 3, "sr4x": 2, "renovation": 1, "sr16x": 1, "denoise": 1}),
    # Stage 4 (the shipped model): deblur, the one task still under its input after stage 3, largest.
    ("default_utkface128_stage3", "default_utkface128_stage4",
     {"deblur": 4, "jpeg": 3, "sr4x": 2, "sr16x": 2, "renovation": 1, "denoise": 1}),
])
def test_later_default_model_stage_changes_only_the_schedule_and_task_mix(before_name, after_name, shares):
    # Each later stage starts from the previous stage's own export, never from the shipped file (which
    # is the last stage's result), and restarts lr_G with a decay inside the run.
    before = load_config(CONFIGS / f"{before_name}.yaml")
    after = load_config(CONFIGS / f"{after_name}.yaml")
    assert after.model.pretrained == f"{before.run_dir}/final.safetensors"
    _assert_continues_with_new_schedule_and_mix(before, after)
    assert Counter(after.data.tasks) == shares
    assert after.train.decay_steps < after.train.steps and after.train.lr_g == before.train.lr_g


def test_paper_config_matches_official_settings():
    config = load_config(CONFIGS / "ffhq512_paper.yaml")
    m, d, t = config.model, config.data, config.train
    assert (m.variant, m.ngf, d.size, t.batch_size) == ("hifacegan", 64, 512, 2)
    assert config.loss.perceptual_net == "vgg19" and config.loss.perceptual_imagenet_norm is False
    # 30 constant + 20 decaying epochs.
    assert config.train.decay_steps / config.train.steps == pytest.approx(20 / 50)


def test_paired_source_needs_degraded_folders():
    with pytest.raises(ConfigError, match="train_lq_root"):
        load_config(None, ["data.source=paired", "data.train_root=hq"])
    with pytest.raises(ConfigError, match="val_lq_root"):
        load_config(None, ["data.source=paired", "data.train_root=hq", "data.train_lq_root=lq", "data.val_root=v"])
    with pytest.raises(ConfigError, match="data.source='pairs' is not valid"):
        load_config(None, ["data.source=pairs"])


def test_degradation_ranges_follow_the_training_size(tmp_path):
    from hifacegan.training.loader import degradation_config

    assert degradation_config(load_config(None, ["data.size=512"])).mosaic_block == 16  # official, 512 px
    assert degradation_config(load_config(None, ["data.size=128"])).mosaic_block == 4
    assert degradation_config(load_config(None, ["data.size=128", "data.degradation_scale=false"])).mosaic_block == 16
    ranges = tmp_path / "ranges.yaml"
    ranges.write_text("mosaic_block: 8\n")
    config = load_config(None, ["data.size=256", f"data.degradation_config={ranges}"])
    assert degradation_config(config).mosaic_block == 4
    ranges.write_text("mosaik_block: 8\n")
    with pytest.raises(ConfigError, match="mosaik_block"):
        degradation_config(config)


def test_patches_of_whole_faces_scale_degradations_for_the_face(tmp_path):
    from hifacegan.training.loader import degradation_config

    config = load_config(None, ["data.size=160", "data.face_size=512"])
    assert degradation_config(config).mosaic_block == 16  # the 512-px face's ranges, not the patch's
    for bad in ("data.face_size=96", "data.face_size=500"):
        with pytest.raises(ConfigError, match="data.face_size"):
            load_config(None, ["data.size=128", bad])
    with pytest.raises(ConfigError, match="needs data.source=degrade"):
        load_config(None, ["data.size=128", "data.face_size=256", "data.source=stacked"])


def test_whole_faces_need_patches_and_a_share_in_0_1():
    config = load_config(None, ["data.size=192", "data.face_size=512", "data.whole_face_prob=0.3"])
    assert config.data.whole_face_prob == 0.3
    for bad in (["data.whole_face_prob=0.3"], ["data.face_size=512", "data.size=192", "data.whole_face_prob=1.5"]):
        with pytest.raises(ConfigError, match="data.whole_face_prob"):
            load_config(None, bad)


def test_home_folder_paths_are_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = load_config(None, ["run_dir=~/runs/x", "data.train_root=~/faces", "model.pretrained=~/g.safetensors"])
    assert config.run_dir == str(tmp_path / "runs" / "x")
    assert config.data.train_root == str(tmp_path / "faces")
    assert config.model.pretrained == str(tmp_path / "g.safetensors")


@pytest.mark.parametrize(("name", "start"), [
    ("renovation512.yaml", "lipspade_utkface128_ngf24"),
    ("renovation512_sharpen.yaml", "lipspade_utkface128_ngf24"),  # resumed from renovation512's state
    ("renovation512_stage2.yaml", "lipspade_hq512_ngf24"),
])
def test_renovation_configs_are_the_papers_objective_on_patches_of_512px_faces(name, start):
    config = load_config(CONFIGS / name)
    assert (config.data.size, config.data.face_size) == (160, 512)
    assert config.loss.gan > 0 and config.loss.feat == 10.0 and config.loss.perceptual > 0 and config.loss.l1 > 0
    assert config.train.warmup_steps == 0  # adversarial from the first step: the generator starts trained
    assert config.model.pretrained.endswith(f"{start}.safetensors")
    assert set(config.data.tasks) >= {"sr4x", "sr16x", "denoise", "deblur", "jpeg", "renovation", "realworld"}


def test_the_sharpen_stage_resumes_the_renovation_run_with_the_same_model():
    # --resume refuses a checkpoint whose model section differs, so the stages must agree on it.
    base, sharpen = load_config(CONFIGS / "renovation512.yaml"), load_config(CONFIGS / "renovation512_sharpen.yaml")
    assert sharpen.model == base.model and sharpen.data.train_root == base.data.train_root
    assert sharpen.loss.gan > base.loss.gan and sharpen.loss.l1 < base.loss.l1
    assert sharpen.run_dir != base.run_dir


@pytest.mark.parametrize(("override", "named", "valid"), [
    ("model.variant=lipspde", "model.variant='lipspde'", ["'lipspade'", "'hifacegan'", "'spade'"]),
    ("data.tasks=[sr4x,jepg]", "data.tasks='jepg'", ["'jpeg'", "'sr4x'", "'renovation'"]),
    ("model.init=xavir", "model.init='xavir'", ["'xavier'", "'default'"]),
])
def test_a_typo_in_a_choice_fails_at_load_naming_the_valid_ones(override, named, valid):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert named in message and "did you mean" in message
    assert all(choice in message for choice in valid)


def test_an_empty_task_list_fails_at_load():
    with pytest.raises(ConfigError, match="data.tasks is empty"):
        load_config(None, ["data.tasks=[]"])


def test_every_shipped_config_passes_the_choice_checks():
    for path in sorted(CONFIGS.glob("*.yaml")):
        config = load_config(path)
        assert config.model.variant and config.data.tasks, path


def test_generator_weights_given_as_a_training_checkpoint_name_the_right_key(tmp_path):
    import torch

    from hifacegan.training.checkpoint import TrainingCheckpointError, load_checkpoint

    weights = tmp_path / "generator.pt"
    torch.save({"conv.weight": torch.zeros(1)}, weights)
    with pytest.raises(TrainingCheckpointError, match="model.pretrained"):
        load_checkpoint(weights)


def test_a_negative_mild_input_l1_weight_fails_at_load():
    with pytest.raises(ConfigError, match="loss.mild_l1 must be >= 0"):
        load_config(None, ["loss.mild_l1=-1"])
    assert load_config(None, ["loss.mild_l1=20", "loss.mild_psnr_db=31"]).loss.mild_psnr_db == 31.0


def test_a_negative_band_spectrum_weight_fails_at_load():
    with pytest.raises(ConfigError, match="loss.spectrum must be >= 0"):
        load_config(None, ["loss.spectrum=-0.5"])
    assert load_config(None, ["loss.spectrum=1.5"]).loss.spectrum == 1.5
