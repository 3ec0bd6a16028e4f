"""The official HiFaceGAN generator built from its own source, so speed tables compare against the real thing.

The official code (Lotayou/Face-Renovation, GPL-3.0 with CC BY-NC-SA SPADE files) is never copied into this
project: the benchmark imports it from a checkout the user points to (``--official-src``), for instance::

    git clone https://github.com/Lotayou/Face-Renovation /tmp/face-renovation

Its generator modules import its training code too (VGG loss, datasets, pickling helpers), which pulls in
``torchvision``, ``dill`` and ``cv2``; none of them is used by the generator's forward pass, so where they
are not installed they are replaced by empty modules while importing (this keeps torch the only
requirement, and the same torch for both sides of the comparison).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

# Imported by the official training and data code, never by its generator's forward pass.
_UNUSED_IMPORTS = ("torchvision", "dill", "cv2")


class _EmptyModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of ``names`` (and their submodules) with empty packages."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module) -> None:
        pass


def official_generator(source: Path, variant: str = "lipspade", ngf: int = 48):
    """The official ``<Variant>Generator`` at width ``ngf`` for 512-px faces, random weights, in test-time mode.

    Test-time mode is what the official ``test.py`` runs: ``netG.train()`` (batch statistics, one spectral-norm
    power iteration per forward), batch 1.

    Raises:
        FileNotFoundError: ``source`` is not a Face-Renovation checkout.
    """
    source = Path(source).resolve()
    if not (source / "models" / "networks" / "generator.py").is_file():
        raise FileNotFoundError(f"{source} is not a Face-Renovation checkout (no models/networks/generator.py); "
                                "git clone https://github.com/Lotayou/Face-Renovation and pass its folder")
    import torch.utils.data  # noqa: F401  torch probes for dill on import: load it before dill is replaced

    missing = tuple(name for name in _UNUSED_IMPORTS if importlib.util.find_spec(name) is None)
    finder = _EmptyModules(missing)
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, str(source))
    try:
        from models.networks import generator as official  # the checkout's package named "models"
        from options.config_hifacegan import TestOptions
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(source))
    options = TestOptions()
    options.netG, options.ngf, options.gpu_ids = variant, ngf, []
    classes = {"lipspade": "LIPSPADEGenerator", "hifacegan": "HiFaceGANGenerator", "spade": "SPADEGenerator"}
    network = getattr(official, classes[variant])(options)
    return network.train()
