"""AdaIN networks in the exact layout of the published pytorch-AdaIN checkpoints.

The networks are data — ``nn.Sequential`` lists whose child indices are the checkpoint
keys — so ``vgg_normalised.pth`` and ``decoder.pth`` load unchanged and a reader can check
every index against the key list in ``shared/reference/adain.md``.
"""

from __future__ import annotations

from torch import nn


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(c_in, c_out, (3, 3)), nn.ReLU()]


def _pool() -> nn.Module:
    return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)


def vgg_normalised() -> nn.Sequential:
    """VGG-19 up to relu5_4 with the 1x1 preprocessing conv: 53 children, keys 0..51.

    relu1_1, relu2_1, relu3_1, relu4_1 are the outputs of children 3, 10, 17, 30.
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 3, (1, 1))]            # 0
    layers += _conv(3, 64)                                         # 1-3   relu1_1
    layers += _conv(64, 64) + [_pool()]                            # 4-7
    layers += _conv(64, 128)                                       # 8-10  relu2_1
    layers += _conv(128, 128) + [_pool()]                          # 11-14
    layers += _conv(128, 256)                                      # 15-17 relu3_1
    layers += _conv(256, 256) + _conv(256, 256) + _conv(256, 256) + [_pool()]  # 18-27
    layers += _conv(256, 512)                                      # 28-30 relu4_1
    layers += _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + [_pool()]      # 31-40
    layers += _conv(512, 512) + _conv(512, 512) + _conv(512, 512) + _conv(512, 512)  # 41-52
    return nn.Sequential(*layers)


#: Child index *after* which each tap is taken (slices [0:4], [4:11], [11:18], [18:31]).
VGG_TAPS = {"relu1_1": 4, "relu2_1": 11, "relu3_1": 18, "relu4_1": 31}


def decoder() -> nn.Sequential:
    """The mirrored decoder of pytorch-AdaIN: relu4_1 features (512) -> RGB, no clamp."""
    up = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(
        nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(512, 256, (3, 3)), nn.ReLU(),  # 0-2
        up,                                                                        # 3
        *_conv(256, 256), *_conv(256, 256), *_conv(256, 256),                      # 4-12
        *_conv(256, 128),                                                          # 13-15
        nn.Upsample(scale_factor=2, mode="nearest"),                               # 16
        *_conv(128, 128), *_conv(128, 64),                                         # 17-22
        nn.Upsample(scale_factor=2, mode="nearest"),                               # 23
        *_conv(64, 64),                                                            # 24-26
        nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(64, 3, (3, 3)),                # 27-28
    )
