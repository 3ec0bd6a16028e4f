"""Config files building on a base: merged section by section, chains followed, loops refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hifacegan.training.config import ConfigError, dump_config, load_config, read_config_file

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# The stage configs as full copies, from before they stated only their changes (comments dropped).
FULL_COPIES = Path(__file__).resolve().parent / "configs_before_bases"


@pytest.mark.parametrize("name", sorted(p.name for p in FULL_COPIES.glob("*.yaml")))
def test_each_stage_config_still_says_what_its_full_copy_said(name):
    assert "base:" in (CONFIGS / name).read_text(), f"{name} should state only its changes on a base"
    assert read_config_file(CONFIGS / name) == read_config_file(FULL_COPIES / name)  # every value, defaults aside
    assert load_config(CONFIGS / name) == load_config(FULL_COPIES / name)


def test_sections_merge_key_by_key_and_lists_replace(tmp_path):
    (tmp_path / "base.yaml").write_text("run_dir: runs/first\nmodel:\n  ngf: 16\n  ndf: 32\n"
                                        "data:\n  tasks: [sr4x, jpeg]\n  size: 64\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text("base: ../base.yaml\nmodel:\n  ngf: 8\ndata:\n  tasks: [deblur]\n")
    config = load_config(tmp_path / "sub" / "child.yaml", ["train.steps=7"])
    assert (config.model.ngf, config.model.ndf) == (8, 32)  # the child's value wins, the base's others stay
    assert config.data.tasks == ("deblur",) and config.data.size == 64  # a list replaces the base's list
    assert config.run_dir == "runs/first" and config.train.steps == 7  # overrides still apply last
    dumped = dump_config(config)
    assert "base:" not in dumped and "ndf: 32" in dumped  # the merged result, not the include
    (tmp_path / "dumped.yaml").write_text(dumped)
    assert load_config(tmp_path / "dumped.yaml") == config


def test_chains_are_followed_relative_to_each_including_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.yaml").write_text("train:\n  steps: 1\n  lr_g: 1.0e-3\n")
    (tmp_path / "two.yaml").write_text("base: a/one.yaml\ntrain:\n  steps: 2\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "three.yaml").write_text("base: ../two.yaml\ntrain:\n  batch_size: 3\n")
    train = load_config(tmp_path / "b" / "three.yaml").train
    assert (train.steps, train.lr_g, train.batch_size) == (2, 1e-3, 3)


def test_a_loop_of_bases_is_refused_naming_the_files(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="config bases form a loop") as info:
        load_config(tmp_path / "a.yaml")
    assert str(tmp_path / "a.yaml") in str(info.value) and str(tmp_path / "b.yaml") in str(info.value)
    (tmp_path / "self.yaml").write_text("base: self.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "self.yaml")


@pytest.mark.parametrize(("text", "message"), [
    ("base: absent.yaml\n", "cannot read config file"),
    ("base: [a.yaml, b.yaml]\n", "base must name another config file"),
    ("base: ''\n", "base must name another config file"),
])
def test_a_bad_base_is_a_config_error(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "c.yaml")


def test_base_cannot_be_set_from_the_command_line():
    with pytest.raises(ConfigError, match="unknown config key 'base'"):
        load_config(None, ["base=renovation512.yaml"])
