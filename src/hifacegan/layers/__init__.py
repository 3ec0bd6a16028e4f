"""Small reusable blocks of the HiFaceGAN networks."""

from hifacegan.layers.lip import SimplifiedLIP, lip_pool
from hifacegan.layers.norms import fold_spectral_norm, instance_norm, spectral_conv
from hifacegan.layers.spade import SPADE, SPADEResBlock

__all__ = ["SPADE", "SPADEResBlock", "SimplifiedLIP", "fold_spectral_norm", "instance_norm", "lip_pool", "spectral_conv"]
