"""PairLIE's network: three small fully convolutional branches, written from ``net/net.py``.

Each branch is five 3x3 convolutions (stride 1, bias), each preceded by a 1-pixel
*reflection* pad, with ReLU between them and a sigmoid at the end; 64 channels inside.
``N_net`` (3->3) removes what the authors call inappropriate features, giving X;
``L_net`` (3->1) and ``R_net`` (3->3) then decompose X into illumination and
reflectance. ``eval.py`` outputs I = L ** exponent * R.

State-dict keys are the official ones, ``{N,L,R}_net.{N,L,R}_net.{1,4,7,10,13}.{weight,bias}``:
in the official ``nn.Sequential`` (pad, conv, ReLU, pad, conv, ...) the convolutions sit at
those positions; here they are kept under the same names, so the published file loads as is.
"""

from __future__ import annotations

import torch
from torch import nn

#: channels inside every branch
WIDTH = 64
#: where the official nn.Sequential keeps its five convolutions (the key names of the checkpoint)
CONV_POSITIONS = ("1", "4", "7", "10", "13")
#: the output at a pixel depends on the input within this many pixels: N (five 3x3
#: convolutions) feeds L and R (five more each), and reflection padding never reads
#: farther than the neighbour a zero pad would. See llebench.tiling (tile_halo).
RECEPTIVE_RADIUS = 2 * len(CONV_POSITIONS)


def reflect_pad1(features: torch.Tensor, relu: bool) -> torch.Tensor:
    """``ReflectionPad2d(1)`` of ``relu(features)`` (or of ``features``), written in one pass.

    Bit-identical to ``F.pad(torch.relu(x), (1, 1, 1, 1), mode="reflect")`` (ReLU is
    pointwise, so it commutes with the pad), but it never materialises the un-padded ReLU
    output and keeps channels_last: about 40 % less time than the two library calls.
    Padded row 0 mirrors row 2 (the pad excludes the edge itself), and so on.
    """
    batch, channels, height, width = features.shape
    if height < 2 or width < 2:
        raise ValueError(f"reflection padding needs at least 2x2 pixels, got {height}x{width}")
    memory_format = (torch.channels_last if features.is_contiguous(memory_format=torch.channels_last)
                     and not features.is_contiguous() else torch.contiguous_format)
    padded = torch.empty((batch, channels, height + 2, width + 2), dtype=features.dtype, device=features.device,
                         memory_format=memory_format)
    inside = padded[:, :, 1:-1, 1:-1]
    if relu:
        torch.clamp_min(features, 0, out=inside)
    else:
        inside.copy_(features)
    padded[:, :, 0, 1:-1] = padded[:, :, 2, 1:-1]
    padded[:, :, -1, 1:-1] = padded[:, :, -3, 1:-1]
    padded[:, :, :, 0] = padded[:, :, :, 2]  # whole columns: the corners come from the padded rows
    padded[:, :, :, -1] = padded[:, :, :, -3]
    return padded


class Branch(nn.Module):
    """One sub-network: five reflection-padded 3x3 convolutions, ReLU between, sigmoid after.

    ``key`` is the branch's attribute name in the official code (``"L_net"``...), under
    which it keeps its convolutions again, so the state-dict keys read ``L_net.L_net.1...``.
    """

    def __init__(self, key: str, out_channels: int, width: int = WIDTH) -> None:
        super().__init__()
        sizes = (3, width, width, width, width, out_channels)
        self.add_module(key, nn.ModuleDict({
            position: nn.Conv2d(sizes[i], sizes[i + 1], kernel_size=3, padding=0, bias=True)
            for i, position in enumerate(CONV_POSITIONS)
        }))
        self.key = key

    @property
    def convolutions(self) -> list[nn.Conv2d]:
        return list(getattr(self, self.key).values())

    def forward_padded(self, padded: torch.Tensor) -> torch.Tensor:
        """The branch on an input that is already reflection-padded by one pixel."""
        convolutions = self.convolutions
        features = convolutions[0](padded)
        for conv in convolutions[1:]:
            features = conv(reflect_pad1(features, relu=True))
        return features.sigmoid_()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.forward_padded(reflect_pad1(image, relu=False))


class PairLIENet(nn.Module):
    """``forward(x) -> (L, R, X)`` as the official ``net``; :meth:`enhance` gives I = L**e * R."""

    def __init__(self, width: int = WIDTH) -> None:
        super().__init__()
        self.L_net = Branch("L_net", 1, width)
        self.R_net = Branch("R_net", 3, width)
        self.N_net = Branch("N_net", 3, width)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        denoised = self.N_net(image)
        padded = reflect_pad1(denoised, relu=False)  # L and R read the same padded X
        return self.L_net.forward_padded(padded), self.R_net.forward_padded(padded), denoised

    def enhance(self, image: torch.Tensor, exponent: float) -> torch.Tensor:
        """I = L ** exponent * R in float32 (L and R are cast up when computed in half precision)."""
        illumination, reflectance, _ = self(image)
        return torch.pow(illumination.float(), exponent) * reflectance.float()
