"""Runtime hook of the cpu-flavour bundle: hide GPUs before torch is imported.

That bundle leaves out the CUDA libraries torch only loads for GPU work (cuDNN engines,
cuSOLVER, ...), so a visible GPU would fail at its first convolution; with no GPU visible
``--device auto`` resolves to the CPU and ``--device cuda`` says CUDA is unavailable.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("STUDIO_BUNDLE_FLAVOUR", "cpu")
