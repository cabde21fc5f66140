"""pytorch-AdaIN's ``test.py`` loop as a command: the baseline `studio bench e2e` times.

``python -m studio.adain.reference --content_dir C --style S --vgg V --decoder D`` does
what the port's script does, written here from its description (not its code): import
torch and torchvision, build the two ``nn.Sequential`` networks in the checkpoint layout,
load the files, keep the encoder up to relu4_1, then for every content and every style
open both images, ``Resize`` (+ ``CenterCrop``) + ``ToTensor``, encode both, AdaIN, blend
with alpha, decode under ``torch.no_grad`` and ``save_image`` the result as
``{content}_stylized_{style}{ext}`` — one pair at a time, the style re-encoded each time.
Start-up is part of what it costs, as it is part of what the port costs its users.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from PIL import Image


def main(argv: list[str] | None = None) -> int:
    """Run the loop; print one line with the image count and the time after start-up."""
    t_start = time.perf_counter()
    p = argparse.ArgumentParser(prog="python -m studio.adain.reference")
    p.add_argument("--content_dir", required=True)
    p.add_argument("--style", required=True, help="style image(s), comma-separated")
    p.add_argument("--vgg", required=True)
    p.add_argument("--decoder", required=True)
    p.add_argument("--content_size", type=int, default=512)
    p.add_argument("--style_size", type=int, default=512)
    p.add_argument("--crop", action="store_true")
    p.add_argument("--save_ext", default=".jpg")
    p.add_argument("--output", default="output")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)

    import torch  # noqa: PLC0415 (heavy: loaded when used)
    from torch import nn  # noqa: PLC0415 (heavy: loaded when used)
    from torchvision import transforms  # noqa: PLC0415 (heavy: loaded when used)
    from torchvision.utils import save_image  # noqa: PLC0415 (heavy: loaded when used)

    from studio.adain.model import encoder_taps, infer_config  # noqa: PLC0415 (loaded when used)
    from studio.adain.ops import adain  # noqa: PLC0415 (loaded when used)

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if a.device == "auto" else a.device)
    enc_sd = torch.load(a.vgg, map_location="cpu", weights_only=True)
    dec_sd = torch.load(a.decoder, map_location="cpu", weights_only=True)
    config = infer_config(enc_sd, dec_sd)   # the official layout, or a smaller mirror
    vgg, decoder = config.build_encoder(), config.build_decoder()
    vgg.load_state_dict(enc_sd)
    decoder.load_state_dict(dec_sd)
    end = encoder_taps(config.encoder_convs)[config.layer]   # test.py: children[:31]
    vgg = nn.Sequential(*list(vgg.children())[:end]).to(device).eval()
    decoder = decoder.to(device).eval()

    def tf(size: int):
        steps = [transforms.Resize(size)] if size else []
        if a.crop:
            steps.append(transforms.CenterCrop(size))
        return transforms.Compose(steps + [transforms.ToTensor()])

    content_tf, style_tf = tf(a.content_size), tf(a.style_size)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    contents = sorted(Path(a.content_dir) / n for n in os.listdir(a.content_dir))
    styles = [Path(s) for s in a.style.split(",")]
    t_loop = time.perf_counter()
    n = 0
    for cp in contents:
        for sp in styles:
            content = content_tf(Image.open(str(cp))).to(device).unsqueeze(0)
            style = style_tf(Image.open(str(sp))).to(device).unsqueeze(0)
            with torch.no_grad():
                f_c, f_s = vgg(content), vgg(style)
                feat = adain(f_c, f_s) * a.alpha + f_c * (1 - a.alpha)
                output = decoder(feat)
            output = output.cpu()
            save_image(output, str(out / f"{cp.stem}_stylized_{sp.stem}{a.save_ext}"))
            n += 1
    t_end = time.perf_counter()
    print(f"reference test.py loop: {n} images, start-up {t_loop - t_start:.2f} s, "
          f"loop {t_end - t_loop:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
