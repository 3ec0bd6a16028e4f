"""HiFaceGAN face restoration nodes for ComfyUI.

Install: link or copy this folder into ComfyUI's ``custom_nodes/`` and install the ``hifacegan`` package
into ComfyUI's Python (docs/integrations.md in the hifacegan repository). Model files go in
``models/facerestore_models`` (official/BasicSR ``.pth``, hifacegan ``.safetensors`` or ``.onnx``); the
shipped models need no file.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, register_model_folder

register_model_folder()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
