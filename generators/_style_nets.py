"""The VGG-19 networks that Gatys and AdaIN style transfer run, with configurable widths.

Layouts match the weights studios already have, so they load without renaming:
  * `vgg19_features`: torchvision's `vgg19().features` indices (`features.0` = conv1_1, ...),
    truncated after relu5_1 (what Gatys uses).  With the default widths it is exactly
    torchvision's layout, so torchvision's VGG-19 state dict loads into it.
  * `adain_encoder` / `adain_decoder`: the normalised VGG-19 (first layer a 1x1 colour conv)
    up to relu4_1 and its mirror decoder, in the layout of the reference PyTorch AdaIN
    implementation (`vgg_normalised.pth`, `decoder.pth`, Huang & Belongie 2017).
Widths are configurable (`config.json`) so tiny random-weight models share the code path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

VGG19_WIDTHS = (64, 128, 256, 512, 512)
ADAIN_WIDTHS = (64, 128, 256, 512)
#: Convolutions per VGG-19 stage.
_CONVS_PER_STAGE = (2, 2, 4, 4, 4)
#: torchvision feature indices of the ReLU outputs Gatys uses.
STYLE_LAYERS = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
CONTENT_LAYERS = {"relu4_2": 22}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features(widths: Sequence[int] = VGG19_WIDTHS) -> nn.Sequential:
    """torchvision VGG-19 `features` up to relu5_1 (index 29), with the given stage widths."""
    layers: list[nn.Module] = []
    in_ch = 3
    for stage, (width, convs) in enumerate(zip(widths, _CONVS_PER_STAGE, strict=True)):
        for _ in range(convs):
            layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = width
        if stage < len(widths) - 1:
            layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers[: max(STYLE_LAYERS.values()) + 1])


def with_pooling(features: nn.Sequential, kind: str) -> nn.Sequential:
    """The same convolutions with max or average pooling (Gatys prefer average pooling)."""
    if kind == "max":
        return features
    return nn.Sequential(
        *(nn.AvgPool2d(2, 2) if isinstance(m, nn.MaxPool2d) else m for m in features)
    )


def _pad_conv(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(in_ch, out_ch, 3), nn.ReLU()]


def _pool() -> nn.Module:
    return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)


def _up() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="nearest")


def adain_encoder(widths: Sequence[int] = ADAIN_WIDTHS) -> nn.Sequential:
    """Normalised VGG-19 up to relu4_1: 31 modules, indices as in `vgg_normalised.pth`."""
    w1, w2, w3, w4 = widths
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    layers += _pad_conv(3, w1) + _pad_conv(w1, w1) + [_pool()]
    layers += _pad_conv(w1, w2) + _pad_conv(w2, w2) + [_pool()]
    layers += _pad_conv(w2, w3) + _pad_conv(w3, w3) + _pad_conv(w3, w3) + _pad_conv(w3, w3)
    layers += [_pool(), *_pad_conv(w3, w4)]
    return nn.Sequential(*layers)


def adain_decoder(widths: Sequence[int] = ADAIN_WIDTHS) -> nn.Sequential:
    """The mirror decoder (relu4_1 features -> RGB), indices as in `decoder.pth`."""
    w1, w2, w3, w4 = widths
    layers: list[nn.Module] = [*_pad_conv(w4, w3), _up()]
    layers += _pad_conv(w3, w3) + _pad_conv(w3, w3) + _pad_conv(w3, w3) + _pad_conv(w3, w2)
    layers += [_up(), *_pad_conv(w2, w2), *_pad_conv(w2, w1), _up(), *_pad_conv(w1, w1)]
    layers += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(w1, 3, 3)]
    return nn.Sequential(*layers)


def adaptive_instance_norm(content: Tensor, style: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN: give `content` features the per-channel mean and std of `style` features.

    Statistics are computed in float32: squared relu4_1 activations overflow float16.
    """
    c32 = content.float()
    c_mean, c_std = _mean_std(c32, eps)
    s_mean, s_std = _mean_std(style.float(), eps)
    return ((c32 - c_mean) / c_std * s_std + s_mean).to(content.dtype)


def _mean_std(features: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    n, c = features.shape[:2]
    flat = features.reshape(n, c, -1)
    var = flat.var(dim=2, unbiased=True) + eps
    return flat.mean(dim=2).reshape(n, c, 1, 1), var.sqrt().reshape(n, c, 1, 1)


def gram_matrix(features: Tensor) -> Tensor:
    """Channel correlations normalised by the number of entries (Gatys et al. 2016)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)
