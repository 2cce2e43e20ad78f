"""The DCGAN architecture file (`config.json`): shared by the plugin and the tiny models,
and free of torch so that reading it stays cheap."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CONFIG_NAME = "config.json"


class DCGANConfig(BaseModel):
    """The explicit architecture saved beside DCGAN weights (`config.json`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Literal["dcgan"] = "dcgan"
    latent_dim: int = Field(100, ge=1, le=4096)
    base_channels: int = Field(64, ge=1, le=1024)
    resolution: Literal[16, 32, 64, 128, 256, 512] = 64
    channels: Literal[1, 3] = 3
