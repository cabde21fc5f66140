"""`studio stylize`, `studio train adain`, `studio bench adain`.

`studio stylize` takes pytorch-AdaIN test.py's flags with the same defaults and output
names (underscored and dashed spellings), so a user of the port can switch directly.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _flag(p: argparse.ArgumentParser, name: str, **kw) -> None:
    """``--content_size`` and ``--content-size`` alike."""
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    p.add_argument(*names, dest=name, **kw)


def _cmd_stylize(args: argparse.Namespace) -> int:
    from studio.adain.stylize import StylizeParams, stylize_job
    from studio.core.commands import CLIError, device_arg, result_status, run_cli_job

    if not (args.content or args.content_dir):
        raise CLIError("give --content FILE or --content_dir FOLDER")
    if not (args.style or args.style_dir):
        raise CLIError("give --style FILE[,FILE...] or --style_dir FOLDER")
    params = StylizeParams(
        content=args.content or "", content_dir=args.content_dir or "",
        style=args.style or "", style_dir=args.style_dir or "", vgg=args.vgg or "",
        decoder=args.decoder or "", content_size=args.content_size,
        style_size=args.style_size, crop=args.crop, save_ext=args.save_ext,
        output=args.output, preserve_color=args.preserve_color or bool(args.color_method),
        color_method=args.color_method or "coral", alpha=args.alpha,
        style_interpolation_weights=args.style_interpolation_weights, masks=args.masks or "",
        batch_size=args.batch_size, device=device_arg(args), precision=args.precision,
        channels_last=not args.no_channels_last, compile=args.compile,
        jpeg_quality=args.jpeg_quality, workers=args.workers, overwrite=args.overwrite)
    result = run_cli_job(stylize_job(params), args)
    if result["failed"]:
        n = len(result["failed"])
        print(f"studio: {n} input(s) failed; {result['written']} image(s) written")
    return result_status(result)


def _cmd_train(args: argparse.Namespace) -> int:
    from studio.adain.train import TrainParams, train_job
    from studio.core.commands import device_arg, seed_arg

    params = TrainParams(
        content_dir=args.content_dir, style_dir=args.style_dir, vgg=args.vgg,
        from_classifier=args.from_classifier or "", config=args.config, layer=args.layer,
        decoder=args.decoder or "", save_dir=Path(args.save_dir), lr=args.lr,
        lr_decay=args.lr_decay, max_iter=args.max_iter, batch_size=args.batch_size,
        style_weight=args.style_weight, content_weight=args.content_weight,
        identity_weight=args.identity_weight,
        image_size=args.image_size, crop_size=args.crop_size,
        save_model_interval=args.save_model_interval,
        preview_interval=args.preview_interval, log_interval=args.log_interval,
        n_threads=args.n_threads, device=device_arg(args), seed=seed_arg(args),
        resume=not args.no_resume, normalise_images=args.normalise_images,
        decoder_widths=[int(x) for x in args.decoder_widths.split(",")]
        if args.decoder_widths else [],
        decoder_convs=[int(x) for x in args.decoder_convs.split(",")]
        if args.decoder_convs else [])
    preview_dir = Path(args.save_dir) / "previews"

    def on_event(ev) -> None:
        from studio.core.images import save_image
        from studio.core.jobs import Metrics, Preview

        if isinstance(ev, Preview):
            save_image(ev.image, preview_dir / f"iter_{ev.step:07d}.png")
        elif isinstance(ev, Metrics) and not getattr(args, "quiet", False):
            vals = " ".join(f"{k} {v:.4g}" for k, v in ev.values.items())
            print(f"iter {ev.step}: {vals}", flush=True)

    from studio.core.jobs import run_job

    result = run_job(train_job(params), progress=None if not getattr(args, "quiet", False)
                     else False, verbose=not getattr(args, "quiet", False), on_event=on_event)
    from studio.core.commands import set_result

    set_result(args, result)
    print(f"decoder: {result['decoder']} ({result['trained_now']} iterations in "
          f"{result['seconds']} s)")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from studio.adain.bench import run_bench
    from studio.core.commands import device_arg, set_result

    report: dict = {}
    status = run_bench(args, device_arg(args), report=report)
    set_result(args, report)
    return status


def register(g) -> None:
    from studio.core.commands import (
        add_overwrite,
        int_range,
        nonneg_float,
        nonneg_int,
        positive_float,
        positive_int,
        unit_float,
    )

    p = g.add(g.root, "stylize", "AdaIN style transfer (pytorch-AdaIN test.py flags)",
              _cmd_stylize)
    _flag(p, "content", help="content image file")
    _flag(p, "content_dir", help="folder of content images")
    _flag(p, "style", help="style image, or comma-separated styles for interpolation "
                           "(with --style_interpolation_weights) or spatial control "
                           "(with --masks)")
    _flag(p, "style_dir", help="folder of style images (every content x every style)")
    _flag(p, "vgg", default="", help="encoder file vgg_normalised.pth or model name "
                                     "(default: installed official model, else the toy)")
    _flag(p, "decoder", default="", help="decoder file decoder.pth or model name")
    _flag(p, "content_size", type=nonneg_int, default=512,
          help="shorter side of the content; 0 keeps the size")
    _flag(p, "style_size", type=nonneg_int, default=512,
          help="shorter side of the style; 0 keeps the size")
    _flag(p, "crop", action="store_true", help="centre crop to a square after resizing")
    _flag(p, "save_ext", default=".jpg", help="output extension (.png embeds parameters)")
    _flag(p, "output", default="output", help="output folder")
    _flag(p, "preserve_color", action="store_true",
          help="keep the content's colours (CORAL recolouring of the style, as the port)")
    _flag(p, "color_method", choices=["coral", "luminance"], default=None,
          help="colour preservation method (implies --preserve_color); luminance = "
               "stylise luminance only, as the paper describes")
    _flag(p, "alpha", type=unit_float, default=1.0, help="stylisation strength in [0, 1]")
    _flag(p, "style_interpolation_weights", default="",
          help="comma-separated weights for several styles (floats; normalised to sum 1)")
    _flag(p, "masks", default="", help="comma-separated mask images, one per style "
                                      "(spatial control: white = that style's region); "
                                      "one grey mask with two styles: white = first")
    _flag(p, "batch_size", type=positive_int, default=8,
          help="contents of equal size per batch")
    _flag(p, "precision", choices=["fp32", "fp16", "bf16"], default="fp32",
          help="autocast precision (fp16 on CUDA only; fp32 matches the reference)")
    _flag(p, "no_channels_last", action="store_true", help="keep NCHW memory format")
    _flag(p, "compile", action="store_true", help="torch.compile the networks (CUDA)")
    _flag(p, "jpeg_quality", type=int_range(1, 100), default=75,
          help="JPEG quality (75 = what the reference's save_image writes)")
    _flag(p, "workers", type=nonneg_int, default=2, help="image decode/encode threads")
    add_overwrite(p)

    p = g.add(g.train, "adain", "train an AdaIN decoder (pytorch-AdaIN train.py)",
              _cmd_train)
    _flag(p, "content_dir", required=True, help="content image folder(s), comma-separated")
    _flag(p, "style_dir", required=True, help="style image folder(s), comma-separated")
    _flag(p, "vgg", default="adain-vgg",
          help="encoder file (vgg_normalised layout) or model name")
    _flag(p, "from_classifier", default="",
          help="derive the encoder from a toy classifier (ToyVGG) file instead: BN folded, "
               "activations normalised; written to SAVE_DIR/encoder.pth")
    _flag(p, "normalise_images", type=positive_int, default=256,
          help="toy-world images used to normalise the derived encoder's activations")
    _flag(p, "config", choices=["auto", "vgg19", "toy"], default="auto",
          help="decoder shape: the encoder's mirror (vgg19) or the wider toy decoder")
    _flag(p, "layer", choices=["", "relu1_1", "relu2_1", "relu3_1", "relu4_1"], default="",
          help="AdaIN layer (default: the config's; the paper's relu4_1, toy relu3_1); "
               "the decoder mirrors the encoder up to it")
    _flag(p, "decoder_widths", default="", help="override decoder stage widths, e.g. 48,96,192,256")
    _flag(p, "decoder_convs", default="", help="override decoder convs per stage, e.g. 2,2,2,1")
    _flag(p, "decoder", default="", help="initial decoder weights (fine-tune)")
    _flag(p, "save_dir", default="experiments", help="checkpoints, state.pth, previews/")
    _flag(p, "lr", type=positive_float, default=1e-4)
    _flag(p, "lr_decay", type=nonneg_float, default=5e-5,
          help="lr / (1 + lr_decay * iteration)")
    _flag(p, "max_iter", type=positive_int, default=160_000)
    _flag(p, "batch_size", type=positive_int, default=8)
    _flag(p, "style_weight", type=nonneg_float, default=10.0)
    _flag(p, "content_weight", type=nonneg_float, default=1.0)
    _flag(p, "identity_weight", type=nonneg_float, default=0.0,
          help="extra (not in the reference): weight of a pixel loss between g(f(c)) and c "
               "(SANet's identity loss) that teaches small decoders structure faster")
    _flag(p, "image_size", type=nonneg_int, default=512,
          help="resize to SIZE x SIZE before cropping (0 keeps the size)")
    _flag(p, "crop_size", type=positive_int, default=256, help="random crop side")
    _flag(p, "save_model_interval", type=positive_int, default=10_000)
    _flag(p, "preview_interval", type=nonneg_int, default=500, help="0 = no previews")
    _flag(p, "log_interval", type=positive_int, default=50)
    _flag(p, "n_threads", type=nonneg_int, default=2, help="image loading threads")
    _flag(p, "no_resume", action="store_true", help="start over even if SAVE_DIR/state.pth exists")

    p = g.add(g.bench, "adain", "AdaIN images/s: batched + cached path vs per-image "
                                "reference path, and GFLOP/s vs measured matmul peak",
              _cmd_bench)
    _flag(p, "sizes", default="224,512", help="image sides to measure")
    _flag(p, "contents", type=positive_int, default=16, help="content images per size")
    _flag(p, "batch_size", type=positive_int, default=8)
    _flag(p, "model", choices=["vgg19", "toy"], default="vgg19",
          help="network shapes (random weights: speed does not depend on them)")
    _flag(p, "repeats", type=positive_int, default=2, help="timed repeats (best is reported)")
    _flag(p, "precision", default="fp32,fp16,bf16",
          help="precisions of our path to time on CUDA (the CPU runs fp32 only)")
    _flag(p, "json_out", default="", help="also write the numbers to this JSON file "
                                            "(--json prints them on stdout)")
