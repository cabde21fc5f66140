"""Community classifier files Studio knows by name (torch-free: the registry reads it).

Each entry names the file, its public URL, its hash (the full SHA-256 where we measured it;
otherwise the 8-hex torch.hub prefix in the file name is what ``models verify`` and
``models fetch`` check), its architecture in the zoo's namespace and the data preset that
holds its normalisation (mean, std, input size, class names).

- akamaster/pytorch_resnet_cifar10 (BSD-2-Clause): He et al. 2016's option-A CIFAR-10
  ResNets, ``{'state_dict', 'best_prec1'}`` with DataParallel's ``module.`` prefix,
  trained on inputs normalised with the ImageNet mean/std.
- chenyaofo/pytorch-cifar-models (BSD-3-Clause): option-B ResNets and VGG-BN for CIFAR-10
  and CIFAR-100, plain state_dicts, normalised with the CIFAR statistics of its training
  configs (``conf/cifar10.conf`` / ``conf/cifar100.conf``).
"""

from __future__ import annotations

from studio.core.engines import ModelSpec

_AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
_CYF = "https://github.com/chenyaofo/pytorch-cifar-models/releases/download/"

#: depth -> (file, full SHA-256 when measured, else None)
_AKAMASTER_FILES = {
    20: ("resnet20-12fca82f.th",
         "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    32: ("resnet32-d509ac18.th", None),
    44: ("resnet44-014dd654.th", None),
    56: ("resnet56-4bfd9763.th",
         "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367"),
    110: ("resnet110-1d1ed7c2.th", None),
    1202: ("resnet1202-f3b1deed.th", None),
}

#: (dataset, model) -> hash prefix of chenyaofo's release files
_CYF_FILES = {
    ("cifar10", "resnet20"): "4118986f", ("cifar10", "resnet32"): "ef93fc4d",
    ("cifar10", "resnet44"): "2a3cabcb", ("cifar10", "resnet56"): "187c023a",
    ("cifar100", "resnet20"): "23dac2f1", ("cifar100", "resnet32"): "84213ce6",
    ("cifar100", "resnet44"): "ffe32858", ("cifar100", "resnet56"): "f2eff4c8",
    ("cifar10", "vgg11_bn"): "eaeebf42", ("cifar10", "vgg13_bn"): "c01e4a43",
    ("cifar10", "vgg16_bn"): "6ee7ea24", ("cifar10", "vgg19_bn"): "57191229",
    ("cifar100", "vgg11_bn"): "57d0759e", ("cifar100", "vgg13_bn"): "5ebe5778",
    ("cifar100", "vgg16_bn"): "7d8c4031", ("cifar100", "vgg19_bn"): "b98f7bd7",
}


def _akamaster() -> list[ModelSpec]:
    return [ModelSpec(
        f"cifar10-resnet{d}", fname,
        f"CIFAR-10 ResNet-{d}, option-A shortcuts (akamaster; ImageNet mean/std)",
        _AKAMASTER + fname, sha, "BSD-2-Clause (akamaster/pytorch_resnet_cifar10)", "cifar10",
        layout=f"studio.models.cifar:resnet_6n2({d}, num_classes=10, option='A')",
        unwrap=("state_dict",), strip_prefixes=("module.",),
        arch=f"cifar_resnet{d}", data="cifar10_akamaster")
        for d, (fname, sha) in _AKAMASTER_FILES.items()]


def _chenyaofo() -> list[ModelSpec]:
    specs = []
    for (data, model), prefix in _CYF_FILES.items():
        nc = 10 if data == "cifar10" else 100
        fname = f"{data}_{model}-{prefix}.pt"
        if model.startswith("resnet"):
            depth = int(model[6:])
            arch = f"cifar_resnet{depth}_b"
            layout = f"studio.models.cifar:resnet_6n2({depth}, num_classes={nc}, option='B')"
            what = f"ResNet-{depth}, option-B shortcuts"
            folder = "resnet/"
        else:
            arch = f"cifar_{model}"
            layout = f"studio.models.cifar:vgg_bn({model[3:5]}, num_classes={nc})"
            what = f"VGG-{model[3:5]} with BatchNorm"
            folder = "vgg/"
        specs.append(ModelSpec(
            f"chenyaofo-{data}-{model}", fname,
            f"{data.upper().replace('CIFAR', 'CIFAR-')} {what} (chenyaofo)",
            _CYF + folder + fname, None, "BSD-3-Clause (chenyaofo/pytorch-cifar-models)", data,
            layout=layout, arch=arch, data="cifar10" if nc == 10 else "cifar100_chenyaofo"))
    return specs


#: Every community classifier file the registry knows (the inversion engine declares them).
COMMUNITY_MODELS: tuple[ModelSpec, ...] = tuple(_akamaster() + _chenyaofo())
