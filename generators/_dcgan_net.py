"""The DCGAN generator network (Radford et al. 2015), in the PyTorch tutorial's layout.

Layer order and names (`main.0`, `main.1`, ... of one `nn.Sequential`) follow the PyTorch
DCGAN tutorial exactly, which is also the layout of the trained faces model that the
`gan-face-generate` package ships, so its state dict loads without renaming.  Resolution
sets the number of upsampling stages: 4x4 from the latent, then x2 per stage.
"""

from __future__ import annotations

import itertools
import math

from torch import Tensor, nn


class DCGANNetwork(nn.Module):
    """latent (N, latent_dim, 1, 1) -> image (N, channels, resolution, resolution) in [-1, 1]."""

    def __init__(self, latent_dim: int, base_channels: int, resolution: int, channels: int) -> None:
        super().__init__()
        stages = int(math.log2(resolution)) - 2  # 4x4 -> resolution
        widths = [base_channels * 2 ** (stages - 1 - i) for i in range(stages)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for wide, narrow in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False),
                nn.BatchNorm2d(narrow),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        """Map latents to images."""
        return self.main(latent)
