"""The RUAS network at test time: three illumination-estimation stages and a denoiser.

Written from the description of the official ``model.py``/``operations.py``/``genotypes.py``
(KarelZhang/RUAS, commit f621bb1). Module and attribute names follow the official ones
(``enhance_net.iems.K.cell.c2_r.op.weight``, ``denoise_net.nrms.K.c5.bias`` ...) so that the
released state_dicts load unchanged; the code itself is our own.

Both sub-networks are built from one searched *cell* (:class:`SearchedCell`) with seven
operation slots o1..o7 (official names ``c1_d, c1_r, c2_d, c2_r, c3_d, c3_r, c4``) wired as

    d1 = act(o1(x))          r1 = act(o2(x) + x)
    d2 = act(o3(r1))         r2 = act(o4(r1) + r1)
    d3 = act(o5(r2))         r3 = act(o6(r2) + r2)
    r4 = act(o7(r3))         out = c5(cat[d1, d2, d3, r4])    (1x1 conv, 4C -> C)

with ``act`` = LeakyReLU(0.05). A residual operation ("res") is ``conv(x) + x``, so in the
o2/o4/o6 slots the input is added twice (once by the operation, once by the cell): that is
what the official code computes and what the weights were trained with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: LeakyReLU slope used inside every cell
SLOPE = 0.05

#: the searched operations, slot by slot (o1..o7), from the official genotypes ``IEM`` and ``NRM``
ENHANCE_GENOTYPE = ("skip", "res_1x1", "resdil_3x3", "conv_3x3", "conv_3x3", "skip", "conv_3x3")
DENOISE_GENOTYPE = ("res_1x1", "res_1x1", "resdil_3x3", "skip", "res_1x1", "res_1x1", "skip")
#: official attribute name of each slot
SLOT_NAMES = ("c1_d", "c1_r", "c2_d", "c2_r", "c3_d", "c3_r", "c4")

#: (kernel, dilation, residual) of each operation; "skip" is the identity
OPERATIONS: dict[str, tuple[int, int, bool]] = {
    "conv_1x1": (1, 1, False),
    "conv_3x3": (3, 1, False),
    "dilconv_3x3": (3, 2, False),
    "res_1x1": (1, 1, True),
    "res_3x3": (3, 1, True),
    "resdil_3x3": (3, 2, True),
}

#: test-time settings of the official ``Network``
STAGES = 3
ENHANCE_CHANNELS = 3
DENOISE_CHANNELS = 6
DENOISE_CELLS = 3


class SlotConv(nn.Module):
    """A convolution operation of the search space (bias, 'same' zero padding), optionally residual.

    The convolution is stored as ``op`` (the official key ``...c2_r.op.weight``).
    """

    def __init__(self, channels: int, kernel: int, dilation: int = 1, residual: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.op = nn.Conv2d(channels, channels, kernel, padding=(kernel - 1) // 2 * dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.op(x)
        return add_residual(y, x) if self.residual else y


def add_residual(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y + x``, in place into ``y`` (a fresh intermediate) unless autocast made it a lower precision."""
    return y.add_(x) if y.dtype == x.dtype else y + x


def make_operation(name: str, channels: int) -> nn.Module:
    if name == "skip":
        return nn.Identity()  # no parameters, hence no keys in the checkpoint
    try:
        kernel, dilation, residual = OPERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown RUAS operation {name!r}") from None
    return SlotConv(channels, kernel, dilation, residual)


def receptive_radius(genotype: tuple[str, ...]) -> int:
    """How far (px) a cell's output reaches into its input, following the wiring above."""
    reach = [OPERATIONS[name][0] // 2 * OPERATIONS[name][1] if name != "skip" else 0 for name in genotype]
    r1 = reach[1]
    d1, d2 = reach[0], r1 + reach[2]
    r2 = r1 + reach[3]
    d3, r3 = r2 + reach[4], r2 + reach[5]
    return max(d1, d2, d3, r3 + reach[6])


class SearchedCell(nn.Module):
    """The seven-slot cell (see the module docstring), followed by the 1x1 fusion conv ``c5``."""

    def __init__(self, channels: int, genotype: tuple[str, ...]) -> None:
        super().__init__()
        if len(genotype) != len(SLOT_NAMES):
            raise ValueError(f"a RUAS cell has {len(SLOT_NAMES)} slots, got {len(genotype)}")
        for slot, name in zip(SLOT_NAMES, genotype):
            self.add_module(slot, make_operation(name, channels))
        self.c5 = nn.Conv2d(4 * channels, channels, 1)

    @staticmethod
    def _act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu_(x, SLOPE)

    def _chain(self, op: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``act(op(x) + x)``: the residual links r1, r2, r3 (op may itself be residual)."""
        y = op(x)
        return self._act(x + x if y is x else add_residual(y, x))

    @staticmethod
    def _branch(op: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        """``out = act(op(x))``, written straight into the fusion input (no ``torch.cat`` copy)."""
        y = op(x)
        if y.dtype == out.dtype:
            torch.ops.aten.leaky_relu.out(y, SLOPE, out=out)
        else:  # autocast: a conv output in lower precision
            out.copy_(F.leaky_relu(y, SLOPE))

    @staticmethod
    def workspace(x: torch.Tensor) -> torch.Tensor:
        """A buffer for the fusion input of a cell applied to ``x`` (reusable by the next cell)."""
        return x.new_empty((x.shape[0], 4 * x.shape[1], *x.shape[2:]))

    def forward(self, x: torch.Tensor, fused: torch.Tensor | None = None) -> torch.Tensor:
        """Inference only (``out=`` writes): the four branch outputs go straight into slices of
        ``fused`` (a :meth:`workspace`; cells in a row share one, which saves the CPU a fresh
        large allocation, i.e. page faults, per cell)."""
        channels = x.shape[1]
        if fused is None:
            fused = self.workspace(x)
        d1, d2, d3, r4 = fused.split(channels, dim=1)
        self._branch(self.c1_d, x, d1)
        r1 = self._chain(self.c1_r, x)
        self._branch(self.c2_d, r1, d2)
        r2 = self._chain(self.c2_r, r1)
        self._branch(self.c3_d, r2, d3)
        r3 = self._chain(self.c3_r, r2)
        self._branch(self.c4, r3, r4)
        return self.c5(fused)


def local_max(x: torch.Tensor) -> torch.Tensor:
    """Max over each pixel and its right, lower and lower-right neighbours, zeros beyond the
    bottom and right borders (the official ``max_operation``).

    Two separable passes of ``torch.maximum`` (max is exact, so any order gives the same
    values); ``max_pool2d`` would be 50x slower on the CPU here.
    """
    rows = torch.empty_like(x)
    torch.maximum(x[..., :-1, :], x[..., 1:, :], out=rows[..., :-1, :])
    torch.clamp(x[..., -1:, :], min=0.0, out=rows[..., -1:, :])  # max with the zero padding
    out = torch.empty_like(x)
    torch.maximum(rows[..., :-1], rows[..., 1:], out=out[..., :-1])
    torch.clamp(rows[..., -1:], min=0.0, out=out[..., -1:])
    return out


class IlluminationStage(nn.Module):
    """One unrolled stage: illumination t from a prior t_hat, then u = clamp(y / t, 0, 1)."""

    def __init__(self, channels: int = ENHANCE_CHANNELS) -> None:
        super().__init__()
        self.cell = SearchedCell(channels, ENHANCE_GENOTYPE)

    def forward(self, y: torch.Tensor, u: torch.Tensor | None, fused: torch.Tensor | None = None) -> torch.Tensor:
        if u is None:  # first stage: u0 = ones, so the prior is the local max of y alone
            t_hat = local_max(y)
        else:
            t_hat = local_max(u).sub_(u - y, alpha=0.5)
        t = torch.sigmoid_(self.cell(t_hat, fused).to(y.dtype)).clamp_(0.001, 1.0)  # .to: for autocast
        return torch.div(y, t, out=t).clamp_(0.0, 1.0)


class EnhanceNetwork(nn.Module):
    """The three illumination stages (official ``EnhanceNetwork``); returns u1, u2, u3."""

    def __init__(self, stages: int = STAGES) -> None:
        super().__init__()
        self.iems = nn.ModuleList(IlluminationStage() for _ in range(stages))

    def forward(self, y: torch.Tensor) -> list[torch.Tensor]:
        estimates: list[torch.Tensor] = []
        u = None
        fused = SearchedCell.workspace(y)
        for stage in self.iems:
            u = stage(y, u, fused)
            estimates.append(u)
        return estimates


class DenoiseNetwork(nn.Module):
    """Noise estimator (official ``DenoiseNetwork``): returns n; the denoised image is u - n."""

    def __init__(self, channels: int = DENOISE_CHANNELS, cells: int = DENOISE_CELLS) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.nrms = nn.ModuleList(SearchedCell(channels, DENOISE_GENOTYPE) for _ in range(cells))
        self.activate = nn.Sequential(nn.Conv2d(channels, 3, 3, padding=1))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        feat = self.stem(u)
        fused = SearchedCell.workspace(feat)
        for cell in self.nrms:
            feat = cell(feat, fused)
        return self.activate(feat)


class RUASNetwork(nn.Module):
    """The whole test-time network (official ``Network``, without its training losses/optimisers).

    ``forward(y, denoise)`` returns u3 (the enhancement) or, with ``denoise=True``, u3 - n.
    """

    def __init__(self) -> None:
        super().__init__()
        self.enhance_net = EnhanceNetwork()
        self.denoise_net = DenoiseNetwork()

    def forward(self, y: torch.Tensor, denoise: bool = True) -> torch.Tensor:
        u = self.enhance_net(y)[-1]
        if not denoise:
            return u
        return u - self.denoise_net(u)


#: receptive radius of the enhancement (3 x (2x2 local max: 1 px + enhancement cell)) and
#: of the denoiser (stem 3x3 + 3 denoising cells + final 3x3)
ENHANCE_RADIUS = STAGES * (1 + receptive_radius(ENHANCE_GENOTYPE))
DENOISE_RADIUS = 1 + DENOISE_CELLS * receptive_radius(DENOISE_GENOTYPE) + 1
RECEPTIVE_RADIUS = ENHANCE_RADIUS + DENOISE_RADIUS
