"""The LLFlow network (Wang et al., AAAI 2022): a conditional encoder and a Glow-style flow.

Written from the official code's behaviour (``code/models/modules/*`` of wyf0912/LLFlow);
module and parameter names follow the official ``state_dict`` so that its checkpoints
load unchanged (``RRDB.*`` is the condition encoder, ``flowUpsamplerNet.*`` the flow).

* Encoder (the official ``ConEncoder1``): input ``x`` = [log-low (3), histeq/255 (3)]; it
  adds the colour map ``exp(x)/sum_c exp(x)`` and a noise map (max of the absolute central
  differences of the colour map along rows and columns), then conv - LeakyReLU - conv -
  2x2 max-pool, ``nb`` RRDBs, a trunk conv and two bilinear halvings. The official
  LeakyReLU is in-place, so the quarter-size feature handed to the flow is the *activated*
  one. The outputs of the RRDBs listed in ``blocks`` are concatenated (nearest-resized) to
  every feature map; the learned colour map is ``sigmoid(conv1x1(nearest_x2(fea_up2)))``.
* Flow: three levels of [squeeze x2, 2 steps ActNorm + 1x1 invertible conv, ``K`` steps
  ActNorm + invertible conv + conditional affine coupling]. Level l is conditioned on the
  encoder feature at 1/2^l of the input size.
* Enhancement (``reverse``): the latent is the learned colour map squeezed x8 (the
  sampled z of the official ``get_sr`` is ignored), run backwards through the flow.
* Training objective (:meth:`LLFlowNet.nll`): the GT encoded forward; NLL in bits per pixel
  location under N(squeeze8(colour map), 1) where the colour map is the encoder's or,
  for a fraction ``train_gt_ratio`` of the batches, the GT's own (``gt / (sum_c gt + 1e-4)``).

Unused but saved layers (``RRDB.downconv3``, ``HRconv``, ``conv_last``, ``awb_para`` and
``flowUpsamplerNet.f``) are built so that the state_dict is the official one, key for key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: the constant of the log-density of a unit Gaussian: log(2 pi)
LOG_2PI = math.log(2.0 * math.pi)
#: the affine couplings' scale is sigmoid(h + 2) + AFFINE_EPS
AFFINE_EPS = 1e-4
#: the coupling nets' hidden channels and the unused ``f`` conv's widths (official defaults)
HIDDEN = 64


@dataclass(frozen=True)
class Architecture:
    """What differs between the official configurations (``confs/*.yml``)."""

    name: str
    nf: int          # encoder width
    nb: int          # RRDBs in the encoder trunk
    K: int           # coupling steps per flow level
    blocks: tuple[int, ...]   # RRDB outputs concatenated to the conditional features
    gc: int = 32     # growth channels of the dense blocks
    L: int = 3       # flow levels
    extra_steps: int = 2      # ``additionalFlowNoAffine``: steps without coupling per level

    @property
    def cond_channels(self) -> int:
        """Channels of every conditional feature map (encoder feature + concatenated blocks)."""
        return self.nf * (1 + len(self.blocks))


#: ``confs/LOL_smallNet.yml`` (5,429,849 parameters)
SMALL = Architecture("small", nf=32, nb=4, K=4, blocks=(1,))
#: ``confs/LOL-pc.yml``, the paper's model (38,859,481 parameters)
STANDARD = Architecture("standard", nf=64, nb=24, K=12, blocks=(1, 3, 5, 7))
ARCHITECTURES = {arch.name: arch for arch in (STANDARD, SMALL)}


# -- tensor helpers -------------------------------------------------------------------------

def squeeze2d(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Space-to-depth: channel c, sub-position (i, j) -> channel ``c*f*f + i*f + j``."""
    b, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"squeeze by {factor} needs a size divisible by {factor}, got {h}x{w}")
    x = x.reshape(b, c, h // factor, factor, w // factor, factor)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, c * factor * factor, h // factor, w // factor)


def unsqueeze2d(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The inverse of :func:`squeeze2d`."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // (factor * factor), factor, factor, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // (factor * factor), h * factor, w * factor)


def central_difference(x: torch.Tensor, dim: int) -> torch.Tensor:
    """0.5 * (next - previous) along ``dim`` (2 = rows, 3 = columns), zeros outside the image."""
    n = x.shape[dim]
    following = torch.zeros_like(x)
    preceding = torch.zeros_like(x)
    following.narrow(dim, 0, n - 1).copy_(x.narrow(dim, 1, n - 1))
    preceding.narrow(dim, 1, n - 1).copy_(x.narrow(dim, 0, n - 1))
    return 0.5 * (following - preceding)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Per-sample sum of log N(x; mean, 1)."""
    return (-0.5 * ((x - mean) ** 2 + LOG_2PI)).sum(dim=(1, 2, 3))


def half_size(x: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to half the size (align_corners False, no antialias)."""
    return F.interpolate(x, size=(x.shape[2] // 2, x.shape[3] // 2), mode="bilinear", align_corners=False)


# -- encoder ---------------------------------------------------------------------------------

class DenseBlock(nn.Module):
    """Residual dense block: five 3x3 convs, each fed every earlier output; ``x + 0.2 conv5``."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.nf, self.gc = nf, gc
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(nf + i * gc, gc, 3, 1, 1))
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and x.is_contiguous() and not torch.is_grad_enabled():
            return self._forward_inplace(x)
        features = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            features.append(F.leaky_relu(conv(torch.cat(features, 1)), 0.2, inplace=True))
        return self.conv5(torch.cat(features, 1)) * 0.2 + x

    def _forward_inplace(self, x: torch.Tensor) -> torch.Tensor:
        """Inference with one image: the growing concatenation is one buffer whose leading
        channels are contiguous views (no copies of the earlier features)."""
        nf, gc = self.nf, self.gc
        buffer = x.new_empty((1, nf + 4 * gc, *x.shape[2:]))
        buffer[:, :nf] = x
        for i, conv in enumerate((self.conv1, self.conv2, self.conv3, self.conv4)):
            width = nf + i * gc
            buffer[:, width:width + gc] = F.leaky_relu_(conv(buffer[:, :width]), 0.2)
        return self.conv5(buffer).mul_(0.2).add_(x)


class ResidualInResidual(nn.Module):
    """RRDB: three dense blocks, ``x + 0.2 * blocks(x)``."""

    def __init__(self, nf: int, gc: int) -> None:
        super().__init__()
        self.RDB1 = DenseBlock(nf, gc)
        self.RDB2 = DenseBlock(nf, gc)
        self.RDB3 = DenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.RDB3(self.RDB2(self.RDB1(x))) * 0.2 + x


class ConditionEncoder(nn.Module):
    """The official ``ConEncoder1`` (see the module docstring)."""

    def __init__(self, arch: Architecture, initialise: bool = True) -> None:
        super().__init__()
        nf = arch.nf
        self.blocks = tuple(arch.blocks)
        # 3 log-low + 3 histeq + 3 colour map + 3 noise map
        self.conv_first = nn.Conv2d(12, nf, 3, 1, 1)
        self.conv_second = nn.Conv2d(nf, nf, 3, 1, 1)
        self.RRDB_trunk = nn.Sequential(*(ResidualInResidual(nf, arch.gc) for _ in range(arch.nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.downconv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.downconv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        # built and saved by the official code, never used
        self.downconv3 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self.awb_para = nn.Linear(nf, 3)
        self.fine_tune_color_map = nn.Sequential(nn.Conv2d(nf, 3, 1, 1), nn.Sigmoid())
        # the official initialisation: dense-block convs Kaiming-normal x 0.1 with zero bias
        # (BasicSR's residual scaling), every other layer PyTorch's default
        for conv in self.RRDB_trunk.modules() if initialise else ():
            if isinstance(conv, nn.Conv2d):
                nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
                with torch.no_grad():
                    conv.weight.mul_(0.1)
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"fea_up2", "fea_up1", "fea_up0", "color_map"}`` for the 6-channel input."""
        low = x[:, :3].exp()
        color = low / (low.sum(dim=1, keepdim=True) + 1e-4)
        noise = torch.maximum(central_difference(color, 2).abs(), central_difference(color, 3).abs())
        fea = F.leaky_relu(self.conv_first(torch.cat([x, color, noise], dim=1)), 0.2, inplace=True)
        del low, color, noise
        head = F.max_pool2d(self.conv_second(fea), 2)
        del fea
        kept: dict[int, torch.Tensor] = {}
        fea = head
        for index, rrdb in enumerate(self.RRDB_trunk):
            fea = rrdb(fea)
            if index in self.blocks:
                kept[index] = fea
        fea_up2 = head + self.trunk_conv(fea)
        del fea, head
        # the official LeakyReLU is in place: the flow gets the activated quarter-size feature
        fea_up1 = F.leaky_relu(self.downconv1(half_size(fea_up2)), 0.2, inplace=True)
        fea_up0 = self.downconv2(half_size(fea_up1))
        # 1x1 conv and sigmoid commute with nearest x2 upsampling: computed at half size
        color_map = F.interpolate(self.fine_tune_color_map(fea_up2), scale_factor=2, mode="nearest")
        features = {"fea_up2": fea_up2, "fea_up1": fea_up1, "fea_up0": fea_up0}
        if kept:
            concat = torch.cat([kept[index] for index in self.blocks], dim=1)
            del kept
            for key, value in features.items():
                resized = concat if value.shape[2:] == concat.shape[2:] else F.interpolate(concat, size=value.shape[2:])
                features[key] = torch.cat([value, resized], dim=1)
        features["color_map"] = color_map
        return features


# -- flow layers -----------------------------------------------------------------------------

class ActNorm(nn.Module):
    """Per-channel affine ``(x + bias) * exp(logs)`` with the data-dependent initialisation.

    On its first forward in train mode, if ``bias`` is all zero, it sets
    ``bias = -mean(x)`` and ``logs = log(1 / (std(x) + 1e-6))`` per channel from that batch
    (and uses them at once). A loaded checkpoint has non-zero biases, so resuming never
    re-initialises. Eval mode never initialises.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.logs = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.inited = False

    def initialise(self, x: torch.Tensor) -> None:
        if not self.training:
            return
        self.inited = True
        if bool((self.bias != 0).any()):
            return
        with torch.no_grad():
            x = x.detach()
            bias = -x.mean(0, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
            var = ((x + bias) ** 2).mean(0, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
            self.bias.copy_(bias)
            self.logs.copy_(torch.log(1.0 / (torch.sqrt(var) + 1e-6)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.inited:
            self.initialise(x)
        return (x + self.bias) * torch.exp(self.logs)

    def reverse(self, x: torch.Tensor) -> torch.Tensor:
        if not self.inited:
            self.initialise(x)
        return x * torch.exp(-self.logs) - self.bias

    def logdet(self, pixels: int) -> torch.Tensor:
        return self.logs.sum() * pixels


class InvertibleConv(nn.Module):
    """1x1 convolution with a learned invertible C x C matrix (inverted in float64)."""

    def __init__(self, channels: int, generator: torch.Generator | None = None, initialise: bool = True) -> None:
        super().__init__()
        if initialise:  # a random rotation (QR factor of a Gaussian matrix)
            q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator, dtype=torch.float64))
            self.weight = nn.Parameter(q.float())
        else:
            self.weight = nn.Parameter(torch.empty(channels, channels))
        self._inverse: tuple[tuple, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.weight.shape[0]
        return F.conv2d(x, self.weight.view(c, c, 1, 1))

    def inverse_weight(self) -> torch.Tensor:
        """``inverse(W.double()).float()`` as a 1x1 kernel, cached while W is unchanged."""
        c = self.weight.shape[0]
        if torch.is_grad_enabled():
            return torch.inverse(self.weight.double()).float().view(c, c, 1, 1)
        key = (self.weight.data_ptr(), self.weight._version, self.weight.device, self.weight.dtype)
        if self._inverse is None or self._inverse[0] != key:
            with torch.no_grad():
                inverse = torch.inverse(self.weight.detach().double()).float().view(c, c, 1, 1)
            self._inverse = (key, inverse)
        return self._inverse[1]

    def reverse(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.inverse_weight())

    def logdet(self, pixels: int) -> torch.Tensor:
        return torch.slogdet(self.weight)[1] * pixels


class NormConv(nn.Conv2d):
    """Bias-free conv followed by an ActNorm (the official ``flow.Conv2d``), weights ~ N(0, 0.05)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__(cin, cout, kernel, 1, (kernel - 1) // 2, bias=False)
        nn.init.normal_(self.weight, 0.0, 0.05)
        self.actnorm = ActNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.actnorm(super().forward(x))


class ZeroConv(nn.Conv2d):
    """3x3 conv initialised to zero, output scaled by ``exp(3 * logs)`` (``Conv2dZeros``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, 1, 1)
        self.logs = nn.Parameter(torch.zeros(cout, 1, 1))
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * torch.exp(self.logs * 3)


def coupling_net(cin: int, cout: int) -> nn.Sequential:
    """conv3x3 + ActNorm, ReLU, conv1x1 + ActNorm, ReLU, zero-initialised conv3x3."""
    return nn.Sequential(NormConv(cin, HIDDEN, 3), nn.ReLU(), NormConv(HIDDEN, HIDDEN, 1), nn.ReLU(),
                         ZeroConv(HIDDEN, cout))


def shift_and_scale(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Even channels are the shift, odd ones (through sigmoid(. + 2) + eps) the scale."""
    return h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0) + AFFINE_EPS


class ConditionalCoupling(nn.Module):
    """The official ``CondAffineSeparatedAndCond``: a feature-conditioned affine on all
    channels, then an affine coupling of the second half conditioned on the first half and
    the feature."""

    def __init__(self, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.fAffine = coupling_net(self.half + cond_channels, 2 * (channels - self.half))
        self.fFeatures = coupling_net(cond_channels, 2 * channels)

    def forward(self, z: torch.Tensor, logdet: torch.Tensor, ft: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, scale = shift_and_scale(self.fFeatures(ft))
        z = (z + shift) * scale
        logdet = logdet + torch.log(scale).sum(dim=(1, 2, 3))
        z1, z2 = z[:, :self.half], z[:, self.half:]
        shift, scale = shift_and_scale(self.fAffine(torch.cat([z1, ft], dim=1)))
        z2 = (z2 + shift) * scale
        return torch.cat([z1, z2], dim=1), logdet + torch.log(scale).sum(dim=(1, 2, 3))

    def reverse(self, z: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        z1, z2 = z[:, :self.half], z[:, self.half:]
        shift, scale = shift_and_scale(self.fAffine(torch.cat([z1, ft], dim=1)))
        z = torch.cat([z1, z2 / scale - shift], dim=1)
        shift, scale = shift_and_scale(self.fFeatures(ft))
        return z / scale - shift


class FlowStep(nn.Module):
    """ActNorm, invertible 1x1 conv and (optionally) the conditional coupling."""

    def __init__(self, channels: int, cond_channels: int | None, generator: torch.Generator | None = None,
                 initialise: bool = True) -> None:
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvertibleConv(channels, generator, initialise)
        if cond_channels is not None:
            self.affine = ConditionalCoupling(channels, cond_channels)
        else:
            self.affine = None

    def forward(self, z: torch.Tensor, logdet: torch.Tensor, ft: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = z.shape[2] * z.shape[3]
        z = self.actnorm(z)
        logdet = logdet + self.actnorm.logdet(pixels)
        z = self.invconv(z)
        logdet = logdet + self.invconv.logdet(pixels)
        if self.affine is not None:
            z, logdet = self.affine(z, logdet, ft)
        return z, logdet

    def reverse(self, z: torch.Tensor, ft: torch.Tensor) -> torch.Tensor:
        if self.affine is not None:
            z = self.affine.reverse(z, ft)
        return self.actnorm.reverse(self.invconv.reverse(z))


class Squeeze(nn.Module):
    """Space-to-depth by 2 (no parameters; it keeps the official layer numbering)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return squeeze2d(z, 2)

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        return unsqueeze2d(z, 2)


class ConditionalFlow(nn.Module):
    """The official ``FlowUpsamplerNet`` with ``scale 1``: ``layers`` level by level."""

    def __init__(self, arch: Architecture, generator: torch.Generator | None = None, initialise: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        #: the level (1..L) of each layer: its conditional feature is ``fea_up{2 - (level - 1)}``
        self.levels: list[int] = []
        channels = 3
        for level in range(1, arch.L + 1):
            channels *= 4
            self.layers.append(Squeeze())
            for _ in range(arch.extra_steps):
                self.layers.append(FlowStep(channels, None, generator, initialise))
            for _ in range(arch.K):
                self.layers.append(FlowStep(channels, arch.cond_channels, generator, initialise))
            self.levels += [level] * (1 + arch.extra_steps + arch.K)
        # built and saved by the official code, never used
        self.f = nn.Sequential(nn.Conv2d(HIDDEN * (1 + len(arch.blocks)), 2 * 3 * HIDDEN, 3, 1, 1))

    @staticmethod
    def condition(features: dict[str, torch.Tensor], level: int) -> torch.Tensor:
        return features[f"fea_up{3 - level}"]

    def encode(self, x: torch.Tensor, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.zeros(x.shape[0], device=x.device, dtype=torch.float32)
        for layer, level in zip(self.layers, self.levels):
            if isinstance(layer, Squeeze):
                x = layer(x)
            else:
                x, logdet = layer(x, logdet, self.condition(features, level))
        return x, logdet

    def decode(self, z: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        for layer, level in zip(reversed(self.layers), reversed(self.levels)):
            if isinstance(layer, Squeeze):
                z = layer.reverse(z)
            else:
                z = layer.reverse(z, self.condition(features, level))
        return z


class LLFlowNet(nn.Module):
    """The whole model: ``RRDB`` (the condition encoder) and ``flowUpsamplerNet`` (the flow).

    ``forward(lq)`` enhances a 6-channel input (log-low, histeq/255) whose height and width
    are multiples of 8; ``forward(lq, gt, gt_color_map=...)`` returns the per-sample NLL
    (bits per pixel location), the latent and the log-determinant for training.

    ``seed`` makes the random initialisation reproducible without touching the global RNG.
    :meth:`from_state_dict` builds it around a checkpoint.
    """

    def __init__(self, arch: Architecture = STANDARD, seed: int | None = None, initialise: bool = True) -> None:
        super().__init__()
        self.arch = arch
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        if generator is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(arch, generator, initialise)
        else:
            self._build(arch, generator, initialise)

    def _build(self, arch: Architecture, generator: torch.Generator | None, initialise: bool) -> None:
        self.RRDB = ConditionEncoder(arch, initialise)
        self.flowUpsamplerNet = ConditionalFlow(arch, generator, initialise)

    @classmethod
    def from_state_dict(cls, arch: Architecture, state: dict[str, torch.Tensor]) -> LLFlowNet:
        """The network holding ``state`` (strict: every official key, nothing else), built
        without its own random initialisation (and without touching the global RNG)."""
        with torch.random.fork_rng(devices=[]):
            net = cls(arch, initialise=False)
        net.load_state_dict(state, strict=True)
        return net

    def forward(self, lq: torch.Tensor, gt: torch.Tensor | None = None, gt_color_map: bool = False):
        if gt is None:
            return self.enhance(lq)
        return self.nll(lq, gt, gt_color_map)

    def enhance(self, lq: torch.Tensor) -> torch.Tensor:
        """The reverse flow from the encoder's colour map: the raw (unclamped) output."""
        check_size(lq)
        features = self.RRDB(lq)
        z = squeeze2d(features.pop("color_map"), 2 ** self.arch.L)
        return self.flowUpsamplerNet.decode(z, features)

    def nll(self, lq: torch.Tensor, gt: torch.Tensor, gt_color_map: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(nll, z, logdet)``: per-sample negative log-likelihood in bits per pixel location."""
        check_size(gt)
        features = self.RRDB(lq)
        z, logdet = self.flowUpsamplerNet.encode(gt, features)
        color = gt / (gt.sum(dim=1, keepdim=True) + 1e-4) if gt_color_map else features["color_map"]
        mean = squeeze2d(color, 2 ** self.arch.L)
        objective = logdet + gaussian_log_density(z.float(), mean.float())
        pixels = gt.shape[2] * gt.shape[3]
        return -objective / (math.log(2.0) * pixels), z, logdet


def check_size(x: torch.Tensor) -> None:
    if x.shape[2] % 8 or x.shape[3] % 8:
        raise ValueError(f"LLFlow needs a height and width that are multiples of 8, got {x.shape[2]}x{x.shape[3]}")
