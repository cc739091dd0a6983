"""Test-only Python Inception-I3D with the public PyTorch port's module names (Conv3d_1a_7x7 ...
Mixed_5c, logits; Unit3D = conv3d + bn; branches b0, b1a, b1b, b2a, b2b, b3b) and TF "SAME"
padding, plus a TorchScript-able detector wrapper with the widely used signature
forward(x, rescale, resize, return_features). Random weights: it checks the C++ native and
TorchScript paths, not Kinetics accuracy.
"""

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F


def same_pad(s: int, k: int, st: int) -> List[int]:
    pad = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
    return [pad // 2, pad - pad // 2]


def pad_same(x: torch.Tensor, k: List[int], s: List[int]) -> torch.Tensor:
    t = same_pad(x.shape[2], k[0], s[0])
    h = same_pad(x.shape[3], k[1], s[1])
    w = same_pad(x.shape[4], k[2], s[2])
    return F.pad(x, [w[0], w[1], h[0], h[1], t[0], t[1]])


class Unit3D(nn.Module):
    def __init__(self, cin: int, cout: int, k: List[int], s: List[int], eps: float, bn_relu: bool = True):
        super().__init__()
        self.k, self.s, self.bn_relu = k, s, bn_relu
        self.conv3d = nn.Conv3d(cin, cout, k, stride=s, bias=not bn_relu)
        # logits has no batch norm; Identity keeps the module scriptable and adds no tensors.
        self.bn = nn.BatchNorm3d(cout, eps=eps, momentum=0.01) if bn_relu else nn.Identity()

    def forward(self, x):
        x = self.bn(self.conv3d(pad_same(x, self.k, self.s)))
        if self.bn_relu:
            x = F.relu(x)
        return x


class MaxPoolSame(nn.Module):
    def __init__(self, k: List[int], s: List[int]):
        super().__init__()
        self.k, self.s = k, s

    def forward(self, x):
        return F.max_pool3d(pad_same(x, self.k, self.s), self.k, self.s)


class Inception(nn.Module):
    def __init__(self, cin: int, o: List[int], eps: float):
        super().__init__()
        one, three = [1, 1, 1], [3, 3, 3]
        self.b0 = Unit3D(cin, o[0], one, one, eps)
        self.b1a = Unit3D(cin, o[1], one, one, eps)
        self.b1b = Unit3D(o[1], o[2], three, one, eps)
        self.b2a = Unit3D(cin, o[3], one, one, eps)
        self.b2b = Unit3D(o[3], o[4], three, one, eps)
        self.b3a = MaxPoolSame(three, one)
        self.b3b = Unit3D(cin, o[5], one, one, eps)

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    def __init__(self, eps: float = 1e-3, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, [7, 7, 7], [2, 2, 2], eps)
        self.MaxPool3d_2a_3x3 = MaxPoolSame([1, 3, 3], [1, 2, 2])
        self.Conv3d_2b_1x1 = Unit3D(64, 64, [1, 1, 1], [1, 1, 1], eps)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, [3, 3, 3], [1, 1, 1], eps)
        self.MaxPool3d_3a_3x3 = MaxPoolSame([1, 3, 3], [1, 2, 2])
        self.Mixed_3b = Inception(192, [64, 96, 128, 16, 32, 32], eps)
        self.Mixed_3c = Inception(256, [128, 128, 192, 32, 96, 64], eps)
        self.MaxPool3d_4a_3x3 = MaxPoolSame([3, 3, 3], [2, 2, 2])
        self.Mixed_4b = Inception(480, [192, 96, 208, 16, 48, 64], eps)
        self.Mixed_4c = Inception(512, [160, 112, 224, 24, 64, 64], eps)
        self.Mixed_4d = Inception(512, [128, 128, 256, 24, 64, 64], eps)
        self.Mixed_4e = Inception(512, [112, 144, 288, 32, 64, 64], eps)
        self.Mixed_4f = Inception(528, [256, 160, 320, 32, 128, 128], eps)
        self.MaxPool3d_5a_2x2 = MaxPoolSame([2, 2, 2], [2, 2, 2])
        self.Mixed_5b = Inception(832, [256, 160, 320, 32, 128, 128], eps)
        self.Mixed_5c = Inception(832, [384, 192, 384, 48, 128, 128], eps)
        self.logits = Unit3D(1024, num_classes, [1, 1, 1], [1, 1, 1], eps, bn_relu=False)

    def forward(self, x):
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
        x = self.MaxPool3d_3a_3x3(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)))
        x = self.MaxPool3d_4a_3x3(self.Mixed_3c(self.Mixed_3b(x)))
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        x = self.Mixed_5c(self.Mixed_5b(self.MaxPool3d_5a_2x2(x)))
        k = [min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4])]
        pooled = F.avg_pool3d(x, k, stride=1)
        logits = self.logits(pooled)
        return logits.mean(dim=[2, 3, 4]), pooled.mean(dim=[2, 3, 4])


def resize_tf_legacy(x: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
    h, w = x.shape[-2], x.shape[-1]
    ys = torch.arange(oh, dtype=torch.float64) * (h / oh)
    xs = torch.arange(ow, dtype=torch.float64) * (w / ow)
    y0 = ys.floor().clamp(max=h - 1)
    x0 = xs.floor().clamp(max=w - 1)
    wy = (ys - y0).to(x.dtype)
    wx = (xs - x0).to(x.dtype)
    y0i, x0i = y0.long(), x0.long()
    y1i, x1i = (y0i + 1).clamp(max=h - 1), (x0i + 1).clamp(max=w - 1)
    rows = x.index_select(-2, y0i) * (1 - wy).unsqueeze(-1) + x.index_select(-2, y1i) * wy.unsqueeze(-1)
    return rows.index_select(-1, x0i) * (1 - wx) + rows.index_select(-1, x1i) * wx


class Detector(nn.Module):
    """uint8 [B, 3, T, H, W]; rescale: to [-1, 1]; resize: TF-legacy bilinear to 224x224."""

    def __init__(self, net: InceptionI3d):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, rescale: bool, resize: bool, return_features: bool) -> torch.Tensor:
        x = x.float()
        if resize:
            b, c, t, h, w = x.shape
            x = resize_tf_legacy(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w), 224, 224)
            x = x.reshape(b, t, c, 224, 224).permute(0, 2, 1, 3, 4)
        if rescale:
            x = x * (2.0 / 255.0) - 1.0
        logits, pooled = self.net(x)
        if return_features:
            return logits
        return torch.softmax(logits, dim=1)
