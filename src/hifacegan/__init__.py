"""hifacegan: HiFaceGAN face renovation (Yang et al., ACM MM 2020) as a package.

Top level: ``create_model(name, **kw)`` builds a generator, ``load_model(path)`` loads any supported
checkpoint ready to run, ``restore_tensor(model, images)`` runs it.
"""

__version__ = "0.1.0"

from hifacegan.inference import keep_input_colors, prepare_for_inference, restore_tensor
from hifacegan.models import CheckpointError, create_model, list_models, load_model, save_model
from hifacegan.restorer import Restorer

__all__ = [
    "CheckpointError",
    "Restorer",
    "__version__",
    "create_model",
    "keep_input_colors",
    "list_models",
    "load_model",
    "prepare_for_inference",
    "restore_tensor",
    "save_model",
]
