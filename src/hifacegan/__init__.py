"""hifacegan: HiFaceGAN face renovation (Yang et al., ACM MM 2020) as a package.

Top level: ``create_model(name, **kw)`` builds a generator, ``load_model(path)`` loads any supported
checkpoint ready to run, ``restore_tensor(model, images)`` runs it.

The names below are imported on first use (PEP 562), so ``import hifacegan`` and the parts that need
no network (``hifacegan --help``, ``hifacegan degrade`` and its worker processes, the metrics) do not
pay for importing torch (about a second and 200 MB per process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hifacegan._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY_EXPORTS = {
    "keep_input_colors": "hifacegan.inference",
    "prepare_for_inference": "hifacegan.models",
    "restore_faces": "hifacegan.inference",
    "restore_tensor": "hifacegan.inference",
    "CheckpointError": "hifacegan.models",
    "create_model": "hifacegan.models",
    "list_models": "hifacegan.models",
    "load_model": "hifacegan.models",
    "save_model": "hifacegan.models",
    "Restorer": "hifacegan.restorer",
}

__all__ = [
    "CheckpointError",
    "Restorer",
    "__version__",
    "create_model",
    "keep_input_colors",
    "list_models",
    "load_model",
    "prepare_for_inference",
    "restore_faces",
    "restore_tensor",
    "save_model",
]

if TYPE_CHECKING:
    from hifacegan.inference import keep_input_colors, restore_faces, restore_tensor
    from hifacegan.models import (
        CheckpointError,
        create_model,
        list_models,
        load_model,
        prepare_for_inference,
        save_model,
    )
    from hifacegan.restorer import Restorer


__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS, globals())
