"""The top-level package: its public names, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import hifacegan


def test_every_public_name_resolves():
    assert set(hifacegan.__all__) == {"__version__", *hifacegan._LAZY_EXPORTS}
    for name in hifacegan.__all__:
        assert getattr(hifacegan, name) is not None
        assert name in dir(hifacegan)
    from hifacegan.models import load_model

    assert hifacegan.load_model is load_model


def test_unknown_name_is_an_attribute_error():
    try:
        hifacegan.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_command_line_parser_and_degrade_do_not_import_torch():
    # `hifacegan --help` and `hifacegan degrade` (and each of its worker processes) need no network:
    # importing torch would cost them about a second and ~200 MB each.
    code = ("import sys, hifacegan, hifacegan.cli, hifacegan.cli.degrade; hifacegan.cli.build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
