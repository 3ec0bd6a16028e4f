"""Networks: the three HiFaceGAN generators, the discriminator, the factory and checkpoint handling."""

from hifacegan.models import generator as _generator  # noqa: F401  (registers the variants)
from hifacegan.models._factory import create_model
from hifacegan.models._registry import list_models, register_model
from hifacegan.models.checkpoint import CheckpointError, load_model, read_weights, save_model
from hifacegan.models.discriminator import MultiscaleDiscriminator, PatchDiscriminator
from hifacegan.models.generator import (
    SIZE_MULTIPLE,
    HiFaceGANGenerator,
    LIPSPADEGenerator,
    SPADEGenerator,
    SuppressionEncoder,
)
from hifacegan.models.prepare import prepare_for_inference

__all__ = [
    "SIZE_MULTIPLE",
    "CheckpointError",
    "HiFaceGANGenerator",
    "LIPSPADEGenerator",
    "MultiscaleDiscriminator",
    "PatchDiscriminator",
    "SPADEGenerator",
    "SuppressionEncoder",
    "create_model",
    "list_models",
    "load_model",
    "prepare_for_inference",
    "read_weights",
    "register_model",
    "save_model",
]
