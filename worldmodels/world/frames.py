"""Frames, converted in one place: env state -> stored frame -> model input, and back.

    env state  uint8 (96, 96, 3)
    preprocess (crop the top 84 rows, area resize)  -> uint8 (S, S, 3)          what rollouts store
    frames_to_tensor                                -> float (..., 3, S, S) in [0, 1]   what V reads
    tensor_to_frames                                -> uint8 (..., S, S, 3)      V's decoded frames

``InputSpec`` says how a V's training frames were preprocessed; a V carries it, so an agent feeds it
frames made the same way.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch

CROP_ROWS = 84  # rows above the indicator bar (the paper crops to these)
STATE_SIZE = 96  # side of CarRacing's state


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """How env states become a V's input frames; read from the manifest of V's training rollouts."""

    frame_size: int = 64
    """side of the square frames"""
    crop: bool = True
    """the top 84 rows only (the indicator bar dropped) before resizing"""

    def __call__(self, states: np.ndarray) -> np.ndarray:
        """uint8 env states (B, 96, 96, 3) -> uint8 frames (B, S, S, 3). States already (B, S, S, 3) with S other
        than 96 are this input, drawn by the ``direct`` renderer, and pass through."""
        if states.shape[1:] == (self.frame_size, self.frame_size, 3) and self.frame_size != STATE_SIZE:
            return np.ascontiguousarray(states)
        return np.stack([preprocess(s, self.frame_size, self.crop) for s in states])

    @staticmethod
    def from_manifest(manifest: dict) -> InputSpec:
        """The spec of rollouts from their ``manifest.json`` (``preprocessing``)."""
        pre = manifest["preprocessing"]
        return InputSpec(frame_size=int(pre["frame_size"]), crop=pre.get("crop_rows") is not None)


def preprocess(frame: np.ndarray, size: int = 64, crop: bool = False) -> np.ndarray:
    """A (96, 96, 3) uint8 state -> (size, size, 3) uint8, area-resampled.

    Args:
        frame: uint8 (96, 96, 3) from the env.
        size: output side (64 in the paper).
        crop: keep only the top 84 rows (drops the indicator bar, as the paper does).
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"preprocess: expected a uint8 (H, W, 3) frame, got {frame.dtype} {frame.shape}")
    if crop:
        frame = frame[:CROP_ROWS]
    if frame.shape[:2] == (size, size):
        return np.ascontiguousarray(frame)
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [0, 1]."""
    if frames.dtype != np.uint8 or frames.shape[-1] != 3:
        raise ValueError(f"frames_to_tensor: expected uint8 (..., H, W, 3), got {frames.dtype} {frames.shape}")
    t = torch.from_numpy(np.ascontiguousarray(frames))
    return t.movedim(-1, -3).float().div_(255.0)


def tensor_to_frames(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [0, 1] -> uint8 (..., H, W, 3); the inverse of ``frames_to_tensor``."""
    return (images.detach().clamp(0, 1) * 255).round().byte().movedim(-3, -1).cpu().numpy()
