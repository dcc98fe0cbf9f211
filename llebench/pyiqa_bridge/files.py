"""Every file the pyiqa metrics named in llebench's tables download, and where from.

pyiqa fetches its parameter files from its Hugging Face mirror and the backbones from
torchvision's model zoo (through the torch hub cache). Listing them here lets
``llebench weights list`` show them and lets a user run offline by dropping them into
``$LLEBENCH_WEIGHTS``. ``sha256`` is None where the published checksum could not be
obtained: such a file is accepted without a full check, but torchvision files carry
the first 8 hex digits of their sha256 in their name (torch hub's convention), which
:mod:`llebench.pyiqa_bridge.loading` does check.
"""

from __future__ import annotations

from llebench.weights import WeightsFile

PYIQA_WEIGHTS_URL = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
TORCHVISION_URL = "https://download.pytorch.org/models/"

NIQE_PARAMETERS = WeightsFile(
    filename="niqe_modelparameters.mat",
    url=PYIQA_WEIGHTS_URL + "niqe_modelparameters.mat",
    sha256="553e160bba72628c0def84d3cc72eacbca3d00985f4c43a35bd7de219a06143f",
    description="NIQE pristine model (LIVE/MATLAB parameters), pyiqa niqe",
)
BRISQUE_SVM = WeightsFile(
    filename="brisque_svm_weights.pth",
    url=PYIQA_WEIGHTS_URL + "brisque_svm_weights.pth",
    sha256=None,
    description="BRISQUE SVR support vectors and coefficients (LIVE release, via piq), pyiqa brisque",
)
UNIQUE_MODEL = WeightsFile(
    filename="UNIQUE.pt",
    url=PYIQA_WEIGHTS_URL + "UNIQUE.pt",
    sha256=None,
    description="UNIQUE model trained on the mix of IQA databases ('mix'), pyiqa unique",
)
RESNET34 = WeightsFile(
    filename="resnet34-b627a593.pth",
    url=TORCHVISION_URL + "resnet34-b627a593.pth",
    sha256=None,
    description="torchvision ResNet-34 ImageNet weights (IMAGENET1K_V1), UNIQUE's backbone",
)
MUSIQ_KONIQ = WeightsFile(
    filename="musiq_koniq_ckpt-e95806b9.pth",
    url=PYIQA_WEIGHTS_URL + "musiq_koniq_ckpt-e95806b9.pth",
    sha256=None,
    description="MUSIQ trained on KonIQ-10k, pyiqa musiq",
)
LPIPS_ALEX = WeightsFile(
    filename="LPIPS_v0.1_alex-df73285e.pth",
    url=PYIQA_WEIGHTS_URL + "LPIPS_v0.1_alex-df73285e.pth",
    sha256=None,
    description="LPIPS v0.1 linear layers for AlexNet, pyiqa lpips",
)
ALEXNET = WeightsFile(
    filename="alexnet-owt-7be5be79.pth",
    url=TORCHVISION_URL + "alexnet-owt-7be5be79.pth",
    sha256=None,
    description="torchvision AlexNet ImageNet weights (IMAGENET1K_V1), LPIPS backbone",
)
LPIPS_VGG = WeightsFile(
    filename="LPIPS_v0.1_vgg-a78928a0.pth",
    url=PYIQA_WEIGHTS_URL + "LPIPS_v0.1_vgg-a78928a0.pth",
    sha256=None,
    description="LPIPS v0.1 linear layers for VGG-16, pyiqa lpips-vgg",
)
VGG16 = WeightsFile(
    filename="vgg16-397923af.pth",
    url=TORCHVISION_URL + "vgg16-397923af.pth",
    sha256=None,
    description="torchvision VGG-16 ImageNet weights (IMAGENET1K_V1), LPIPS-VGG backbone",
)

#: pyiqa metric name -> the files its construction downloads
PYIQA_FILES: dict[str, tuple[WeightsFile, ...]] = {
    "niqe": (NIQE_PARAMETERS,),
    "brisque": (BRISQUE_SVM,),
    "unique": (UNIQUE_MODEL, RESNET34),
    "musiq": (MUSIQ_KONIQ,),
    "lpips": (LPIPS_ALEX, ALEXNET),
    "lpips-vgg": (LPIPS_VGG, VGG16),
}

KNOWN_BY_URL: dict[str, WeightsFile] = {f.url: f for files in PYIQA_FILES.values() for f in files}


def files_for(pyiqa_name: str) -> tuple[WeightsFile, ...]:
    """The files known to be needed by pyiqa metric ``pyiqa_name`` (empty if none or unknown)."""
    return PYIQA_FILES.get(pyiqa_name, ())
