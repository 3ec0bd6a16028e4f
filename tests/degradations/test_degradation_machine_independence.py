"""The bytes of every task do not depend on which SIMD code paths the CPU offers OpenCV.

OpenCV chooses among SIMD implementations at run time (``OPENCV_CPU_DISABLE`` switches them off);
a degradation whose bytes changed with that choice would give different training data on another
machine. Rerunning in a subprocess with AVX/AVX2/FMA/AVX-512 disabled is the closest local stand-in for
"another machine".
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import hashlib, numpy as np
from hifacegan.degradations import TASKS, DegradationConfig, degrade, rng_for
rng = np.random.default_rng(0)
base = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)
images = [np.ascontiguousarray(np.kron(base, np.ones((s, s, 1), np.uint8))[:h, :w]) for s, h, w in
          [(8, 96, 96), (6, 70, 58), (11, 128, 128)]]
digest = hashlib.sha256()
for config in (DegradationConfig(), DegradationConfig().scaled_for_size(128)):
    for task in TASKS:
        for n, image in enumerate(images):
            for seed in range(12):
                digest.update(degrade(image, task, rng_for(seed, f"{n}"), config)[0].tobytes())
print(digest.hexdigest())
"""

_DISABLE = "AVX512_SKX,AVX512_ICL,AVX512F,AVX2,FMA3,AVX,FP16,F16C,POPCNT,SSE4_2,SSE4_1,SSSE3"


def _digest(extra_env: dict[str, str]) -> str:
    env = {**os.environ, **extra_env}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                            check=True)
    return result.stdout.strip().splitlines()[-1]


def test_same_bytes_with_and_without_simd_paths():
    assert _digest({}) == _digest({"OPENCV_CPU_DISABLE": _DISABLE})
