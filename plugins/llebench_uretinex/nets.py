"""The four networks of URetinex-Net (Wu et al., CVPR 2022) and the two closed-form updates.

Attribute names follow the official modules (``Decom``, ``HalfDnCNNSE``, ``Illumination_Alone``,
``Adjust_naive``) so that the released checkpoints load unchanged; the code is written from
the test script's description, not copied.

Each network is also usable piece by piece, which the stage-wise tiling of the enhancer
needs: :meth:`RestorationNet.gate_features` / :meth:`RestorationNet.channel_gate` give the
squeeze-excitation scale (a *global* statistic), :meth:`RestorationNet.restore` everything
after it (purely local, receptive radius :data:`RESTORE_RADIUS`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: receptive radii (px) of the purely local parts, for exact tiling
DECOM_RADIUS = 4          # four 3x3 convolutions
RESTORE_RADIUS = 7        # 3x3 input convs, five 3x3 convs, one 3x3 output conv
GATE_RADIUS = 1           # the 3x3 input convs whose global mean drives the gate
ILLUMINATION_RADIUS = 8   # four 5x5 convolutions and a 1x1
ADJUST_RADIUS = 8         # four 5x5 convolutions


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    """A stride-1 convolution with bias and zero "same" padding."""
    return nn.Conv2d(cin, cout, k, stride=1, padding=k // 2, bias=True)


class DecompositionNet(nn.Module):
    """Initial Retinex split of the low-light image: I -> (P0: 3 channels, Q0: 1 channel).

    3x3 convs 3->32->32->32->4, LeakyReLU(0.2) between them, ReLU at the end.
    Checkpoint keys ``decom.{0,2,4,6}.{weight,bias}``.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in ((3, width), (width, width), (width, width)):
            layers += [_conv(cin, cout, 3), nn.LeakyReLU(0.2, inplace=True)]
        layers += [_conv(width, 4, 3), nn.ReLU(inplace=True)]
        self.decom = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """The 4-channel map: channels 0-2 reflectance P0, channel 3 illumination Q0."""
        return self.decom(image)


class _ExcitationWeights(nn.Module):
    """Squeeze-excitation MLP (``se_layer.fc.{0,2}.weight``): 64 -> 4 -> 64, no biases."""

    def __init__(self, channels: int = 64, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(inplace=True),
                                nn.Linear(hidden, channels, bias=False), nn.Sigmoid())

    def forward(self, means: torch.Tensor) -> torch.Tensor:
        return self.fc(means)


class RestorationNet(nn.Module):
    """Reflectance restoration R = P + f(P, Q) (official ``HalfDnCNNSE`` with ``concat_L``).

    f: ReLU(conv3x3 3->32 (P)) and ReLU(conv3x3 1->32 (Q)), concatenated (64 channels),
    scaled channel-wise by a squeeze-excitation gate computed from their *global* means,
    then five conv3x3 64->64 + ReLU and a conv3x3 64->3.
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        half = width // 2
        self.conv1 = _conv(3, half, 3)
        self.conv2 = _conv(1, half, 3)
        self.se_layer = _ExcitationWeights(width)
        for index in range(3, 8):
            setattr(self, f"conv{index}", _conv(width, width, 3))
        self.conv8 = _conv(width, 3, 3)

    def _body(self) -> list[nn.Conv2d]:
        return [self.conv3, self.conv4, self.conv5, self.conv6, self.conv7]

    def gate_features(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The 64-channel features the gate averages (and the body then processes)."""
        return torch.cat([F.relu(self.conv1(p)), F.relu(self.conv2(q))], dim=1)

    def channel_gate(self, means: torch.Tensor) -> torch.Tensor:
        """Per-channel scale (N x 64) from the per-channel spatial means (N x 64)."""
        return self.se_layer(means)

    def restore(self, p: torch.Tensor, q: torch.Tensor, gate: torch.Tensor,
                features: torch.Tensor | None = None) -> torch.Tensor:
        """R given the gate: local, so exact on tiles with :data:`RESTORE_RADIUS` px of halo.

        Scaling the input channels of conv3 by the gate equals convolving the scaled
        features (zero padding stays zero); it saves a pass over a 64-channel map.
        ``features``: :meth:`gate_features` of (p, q) when already computed.
        """
        if features is None:
            features = self.gate_features(p, q)
        first, *rest = self._body()
        weight = first.weight * gate.reshape(1, -1, 1, 1).to(first.weight.dtype)
        x = F.relu_(F.conv2d(features, weight, first.bias, padding=1))
        for conv in rest:
            x = F.relu_(conv(x))
        return p + self.conv8(x)

    def forward(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """R on the whole image (batch size 1: the gate folds into the weights)."""
        if p.shape[0] != 1:
            raise ValueError("RestorationNet works on one image at a time")
        features = self.gate_features(p, q)
        return self.restore(p, q, self.channel_gate(features.mean(dim=(2, 3), dtype=torch.float32))[0], features)


class IlluminationNet(nn.Module):
    """Illumination refinement L = g(Q) (official ``Illumination_Alone``).

    5x5 convs 1->32->32->32->32, each followed by LeakyReLU(0.2); conv1x1 32->1; ReLU.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = _conv(1, width, 5)
        self.conv2 = _conv(width, width, 5)
        self.conv3 = _conv(width, width, 5)
        self.conv4 = _conv(width, width, 5)
        self.conv5 = _conv(width, 1, 1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        x = q
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = F.leaky_relu_(conv(x), 0.2)
        return F.relu_(self.conv5(x))


class AdjustmentNet(nn.Module):
    """Illumination adjustment (official ``Adjust_naive``): Â = h(cat[L, ratio map]).

    5x5 convs 2->32->32->32->1; LeakyReLU(0.2) before the 2nd to 4th conv; ReLU at the end.
    The ratio map is constant (``ratio`` everywhere), zero-padded like any input.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = _conv(2, width, 5)
        self.conv2 = _conv(width, width, 5)
        self.conv3 = _conv(width, width, 5)
        self.conv4 = _conv(width, 1, 5)

    def forward(self, illumination: torch.Tensor, ratio: float | torch.Tensor) -> torch.Tensor:
        """``ratio``: a number, or a tensor broadcastable to ``illumination`` (N x 1 x 1 x 1)."""
        alpha = torch.ones_like(illumination) * ratio
        x = self.conv1(torch.cat([illumination, alpha], dim=1))
        for conv in (self.conv2, self.conv3, self.conv4):
            x = conv(F.leaky_relu(x, 0.2))
        return F.relu_(x)


def update_reflectance(image: torch.Tensor, q: torch.Tensor, r: torch.Tensor, weight: float) -> torch.Tensor:
    """argmin_P ||I - P Q||² + w ||P - R||²  =  (I Q + w R) / (w + Q²)   (Q broadcast over RGB)."""
    return (image * q + weight * r) / (weight + q * q)


def update_illumination(image: torch.Tensor, p: torch.Tensor, l: torch.Tensor, weight: float) -> torch.Tensor:
    """argmin_Q ||I - P Q||² + w ||Q - L||²  =  (Σ_c I_c P_c + w L) / (Σ_c P_c² + w).

    The channel sums are accumulated red, green, blue in that order, as the official code does.
    """
    ip = image * p
    pp = p * p
    numerator = ip[:, 0:1] + ip[:, 1:2] + ip[:, 2:3] + weight * l
    denominator = (pp[:, 0:1] + pp[:, 1:2] + pp[:, 2:3]) + weight
    return numerator / denominator
