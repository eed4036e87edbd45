"""Model registry: a checkpoint names its model kind, so it reloads from ``state_dict`` + config JSON."""

from __future__ import annotations

from .amden import AMDEN, AMDENConfig
from .amshortcut import AMShortcut, AMShortcutConfig
from .dm2 import DM2Config, DM2Denoiser
from .glassvae import GlassVAE, GlassVAEConfig
from .gnn import AttentionGNN, GNNConfig

MODELS = {"dm2": DM2Denoiser, "amden": AMDEN, "amshortcut": AMShortcut, "gnn": AttentionGNN, "glassvae": GlassVAE}

__all__ = ["MODELS", "DM2Config", "DM2Denoiser", "AMDEN", "AMDENConfig", "AMShortcut", "AMShortcutConfig",
           "AttentionGNN", "GNNConfig", "GlassVAE", "GlassVAEConfig"]
