"""Model registry: a checkpoint names its model kind, so it reloads from ``state_dict`` + config JSON."""

from __future__ import annotations

from .amden import AMDEN, AMDENConfig
from .dm2 import DM2Config, DM2Denoiser
from .glassvae import GlassVAE, GlassVAEConfig

MODELS = {"dm2": DM2Denoiser, "amden": AMDEN, "glassvae": GlassVAE}

__all__ = ["MODELS", "DM2Config", "DM2Denoiser", "AMDEN", "AMDENConfig", "GlassVAE", "GlassVAEConfig"]
