"""Video restoration: faces tracked across frames, landmarks smoothed, frames restored, audio kept.

Needs PyAV: ``pip install "hifacegan[video]"``. See :mod:`hifacegan.video.pipeline` and
:mod:`hifacegan.video.tracking`.
"""

from hifacegan.video.tracking import FaceTracker, OneEuroFilter, SmoothingConfig, smooth_landmark_track

__all__ = ["FaceTracker", "OneEuroFilter", "SmoothingConfig", "smooth_landmark_track"]
