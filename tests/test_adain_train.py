"""`studio train adain`: the reference losses, checkpoints, deterministic resume, encoders."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from studio.adain import ops
from studio.adain.model import AdaINConfig, AdaINModel
from studio.adain.train import TrainParams, adain_losses, train_job
from studio.cli import main
from studio.core.checkpoints import load_state_dict, save_state_dict
from studio.core.jobs import Cancelled, CancelToken, Metrics, Preview, drive

TINY = AdaINConfig("custom", (4, 8, 8, 16), (1, 1, 1, 1))


@pytest.mark.parametrize("layer", ["relu4_1", "relu3_1"])
def test_losses_are_the_reference_losses(layer):
    torch.manual_seed(0)
    model = AdaINModel(AdaINConfig("custom", TINY.encoder_widths, TINY.encoder_convs,
                                   layer=layer))
    c, s = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss_c, loss_s, g = adain_losses(model, c, s)
    with torch.no_grad():
        sf = model.encode_with_intermediate(s)
        t = ops.adain(model.encode(c), sf[-1])
        gf = model.encode_with_intermediate(model.decode(t))

    def stats(f):
        v = f.reshape(*f.shape[:2], -1)
        return v.mean(2), (v.var(2, unbiased=True) + 1e-5).sqrt()

    assert len(gf) == len(sf) == {"relu4_1": 4, "relu3_1": 3}[layer]
    expect_s = 0.0
    for a, b in zip(gf, sf):
        (ma, sa), (mb, sb) = stats(a), stats(b)
        expect_s += ((ma - mb) ** 2).mean() + ((sa - sb) ** 2).mean()
    assert loss_c.item() == pytest.approx(F.mse_loss(gf[-1], t).item(), rel=1e-5)
    assert loss_s.item() == pytest.approx(float(expect_s), rel=1e-5)
    loss_c.backward()
    assert all(p.grad is None for p in model.encoder.parameters())   # encoder frozen
    assert any(p.grad is not None for p in model.decoder.parameters())


def _data(root, n=6):
    rng = np.random.default_rng(0)
    for sub in ("content", "style"):
        for i in range(n):
            arr = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            (root / sub / "x").mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / sub / "x" / f"{i}.png")
    (root / "content" / "bad.png").write_bytes(b"nope")
    return root / "content", root / "style"


def test_checkpoints_and_resume_reproduce_an_uninterrupted_run(tmp_path):
    cdir, sdir = _data(tmp_path)
    enc = save_state_dict(AdaINModel(TINY).encoder, tmp_path / "enc.pth")

    def params(save_dir, max_iter):
        return TrainParams(content_dir=str(cdir), style_dir=str(sdir), vgg=str(enc),
                           save_dir=save_dir, max_iter=max_iter, batch_size=2, image_size=0,
                           crop_size=16, save_model_interval=2, preview_interval=2,
                           log_interval=1, n_threads=1, device="cpu", lr=1e-3)

    events = []
    straight = drive(train_job(params(tmp_path / "a", 4)), events.append)
    assert straight["trained_now"] == 4
    assert sorted(p.name for p in (tmp_path / "a").glob("decoder_iter_*.pth")) == \
        ["decoder_iter_2.pth", "decoder_iter_4.pth"]
    assert any(isinstance(e, Preview) for e in events)
    assert [e.step for e in events if isinstance(e, Metrics)] == [1, 2, 3, 4]
    assert straight["skipped_images"] == [] or straight["skipped_images"] == \
        [str(cdir / "bad.png")]

    drive(train_job(params(tmp_path / "b", 3)))         # stops at 3 ...
    resumed = drive(train_job(params(tmp_path / "b", 4)))  # ... and goes on to 4
    assert resumed["trained_now"] == 1
    a = load_state_dict(tmp_path / "a" / "decoder.pth")
    b = load_state_dict(tmp_path / "b" / "decoder.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)

    # a cancelled run keeps what it trained
    token = CancelToken()
    gen = train_job(params(tmp_path / "c", 10), token)
    with pytest.raises(Cancelled):
        for ev in gen:
            if isinstance(ev, Metrics) and ev.step == 3:
                token.cancel()
    state = torch.load(tmp_path / "c" / "state.pth", weights_only=True)
    assert state["iter"] == 3


def test_log_dir_and_the_reference_checkpoint_names(tmp_path, monkeypatch):
    """pytorch-AdaIN's --log_dir (without the tensorboard package: the save_dir's
    metrics.jsonl and one warning) and its decoder_iter_N.pth.tar names, which load as a
    --decoder."""
    import json

    from tracking_read import hide_tensorboard

    hide_tensorboard(monkeypatch)
    cdir, sdir = _data(tmp_path)
    enc = save_state_dict(AdaINModel(TINY).encoder, tmp_path / "enc.pth")
    out, logs = tmp_path / "run", tmp_path / "logs"
    rc = main(["train", "adain", "--content_dir", str(cdir), "--style_dir", str(sdir),
               "--vgg", str(enc), "--save_dir", str(out), "--log_dir", str(logs),
               "--max_iter", "4", "--batch_size", "2", "--image_size", "0", "--crop_size",
               "16", "--save_model_interval", "2", "--log_interval", "2", "--n_threads", "1",
               "--preview_interval", "0", "-q", "--device", "cpu"])
    assert rc == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert not logs.exists()
    assert [r["step"] for r in lines] == [2, 4]
    assert {"loss_content", "loss_style", "lr"} <= set(lines[0])
    for n in (2, 4):
        ours, ref = out / f"decoder_iter_{n}.pth", out / f"decoder_iter_{n}.pth.tar"
        assert ref.read_bytes() == ours.read_bytes()
    again = drive(train_job(TrainParams(
        content_dir=str(cdir), style_dir=str(sdir), vgg=str(enc), save_dir=tmp_path / "ft",
        decoder=str(out / "decoder_iter_4.pth.tar"), max_iter=1, batch_size=2, image_size=0,
        crop_size=16, n_threads=1, device="cpu")))
    assert again["trained_now"] == 1


def test_train_from_a_toy_classifier_via_the_cli(tmp_path, capsys):
    from studio.toyworld.models import ToyVGG, ToyVGGConfig

    cdir, sdir = _data(tmp_path)
    clf = save_state_dict(ToyVGG(ToyVGGConfig(widths=(4, 8, 8, 16), convs=(1, 1, 1, 1))),
                          tmp_path / "clf.pth")
    out = tmp_path / "run"
    rc = main(["train", "adain", "--content_dir", str(cdir), "--style-dir", str(sdir),
               "--from_classifier", str(clf), "--config", "vgg19", "--max_iter", "2",
               "--batch_size", "2", "--image_size", "0", "--crop_size", "16",
               "--save_dir", str(out), "--normalise-images", "12", "-q", "--device", "cpu"])
    assert rc == 0
    model = AdaINModel.from_files(out / "encoder.pth", out / "decoder.pth")
    assert model.config.encoder_widths == (4, 8, 8, 16)
    assert (out / "previews" / "iter_0000001.png").is_file()
    assert "decoder:" in capsys.readouterr().out


def test_jobs_round_trip_through_recipes():
    import tomllib

    from studio.adain.stylize import StylizeParams
    from studio.recipes import parse_recipe, recipe_text

    for job, params in (("adain.train", TrainParams(content_dir="c", style_dir="s",
                                                    decoder_widths=[8, 16, 16, 32])),
                        ("adain.stylize", StylizeParams(content="a.png", style="b.png,c.png",
                                                        style_interpolation_weights="1,2"))):
        jt, again = parse_recipe(tomllib.loads(recipe_text(job, params)))
        assert jt.name == job and again == params


def test_identity_loss_option_is_reported(tmp_path):
    from studio.adain.train import identity_loss

    torch.manual_seed(1)
    model = AdaINModel(TINY)
    c = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expect = F.mse_loss(model.decode(model.encode(c)), c)
    assert identity_loss(model, c).item() == pytest.approx(expect.item(), rel=1e-6)
    assert _one_step_metrics(tmp_path, model, identity_weight=5.0)["loss_identity"] > 0


def _one_step_metrics(tmp_path, model: AdaINModel, **extra) -> dict:
    """The metrics of one training iteration of ``model``'s encoder with ``extra`` params."""
    cdir, sdir = _data(tmp_path, n=3)
    enc = save_state_dict(model.encoder, tmp_path / "enc.pth")
    events = []
    drive(train_job(TrainParams(content_dir=str(cdir), style_dir=str(sdir), vgg=str(enc),
                                save_dir=tmp_path / "run", max_iter=1, batch_size=2,
                                image_size=0, crop_size=16, log_interval=1, n_threads=1,
                                device="cpu", **extra)), events.append)
    return [e for e in events if isinstance(e, Metrics)][0].values


def test_content_sigma_trains_on_low_passed_contents(tmp_path):
    """--content_sigma (a named deviation): the content is blurred before encoding in
    training as at inference, the run records it in its config, -1 keeps the config's."""
    torch.manual_seed(0)
    model = AdaINModel(TINY)
    plain = _one_step_metrics(tmp_path / "a", model)
    blurred = _one_step_metrics(tmp_path / "b", model, content_sigma=1.5)
    assert blurred["loss_content"] != pytest.approx(plain["loss_content"], rel=1e-3)
    state = torch.load(tmp_path / "b" / "run" / "state.pth", weights_only=True)
    assert state["config"]["content_sigma"] == 1.5
    state = torch.load(tmp_path / "a" / "run" / "state.pth", weights_only=True)
    assert state["config"]["content_sigma"] == 0.0
    with pytest.raises(ValueError, match="--content_sigma must be -1"):
        _one_step_metrics(tmp_path / "c", model, content_sigma=-0.5)


def test_structure_loss_sees_the_layout_not_the_pattern(tmp_path):
    from studio.adain.train import structure_loss

    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc = (((yy - 16) ** 2 + (xx - 16) ** 2) < 100).float()
    content = (0.3 + 0.4 * disc).expand(1, 3, 32, 32)  # light disc on dark ground
    stripes = 0.5 + 0.2 * torch.sign(torch.sin(xx * 3.14159 / 2))  # period 4 px
    recoloured = (0.2 * content + 0.6 * stripes).clamp(0, 1)  # same layout, patterned
    inverted = 1 - content
    assert structure_loss(content, content, 3.0).item() < 1e-6
    assert structure_loss(recoloured, content, 3.0).item() < 0.25  # uncorrelated: 2
    assert structure_loss(inverted, content, 3.0).item() > 3.5  # anti-correlated: 4
    metrics = _one_step_metrics(tmp_path, AdaINModel(TINY), structure_weight=2.0)
    assert metrics["loss_structure"] > 0


def test_style_layer_deeper_than_the_adain_layer_adds_those_taps(tmp_path):
    torch.manual_seed(2)
    model = AdaINModel(AdaINConfig("custom", TINY.encoder_widths, TINY.encoder_convs,
                                   layer="relu2_1"))
    c, s = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    loss_c, loss_s, _ = adain_losses(model, c, s)
    loss_c4, loss_s4, _ = adain_losses(model, c, s, "relu4_1")
    assert loss_c4.item() == pytest.approx(loss_c.item(), rel=1e-6)  # content: relu2_1
    with torch.no_grad():
        sf = model.encode_with_intermediate(s, "relu4_1")
        gf = model.encode_with_intermediate(
            model.decode(ops.adain(model.encode(c), sf[1])), "relu4_1")
    assert [f.shape[1] for f in gf] == [4, 8, 8, 16]
    from studio.adain.train import calc_style_loss

    deeper = sum(calc_style_loss(a, b) for a, b in zip(gf[2:], sf[2:]))
    assert loss_s4.item() == pytest.approx(loss_s.item() + float(deeper), rel=1e-5)
    cdir, sdir = _data(tmp_path, n=2)
    enc = save_state_dict(model.encoder, tmp_path / "enc.pth")
    with pytest.raises(ValueError, match="--style_layer relu1_1 must lie between"):
        drive(train_job(TrainParams(content_dir=str(cdir), style_dir=str(sdir), vgg=str(enc),
                                    save_dir=tmp_path / "run", max_iter=1, layer="relu2_1",
                                    style_layer="relu1_1", device="cpu")), lambda e: None)


def test_exemplar_triplets_are_matched_by_path_and_cropped_together(tmp_path):
    """--target_dir / --exemplar_weight (a named deviation): each content comes with the
    style and target at its relative path, cropped at the same offsets; the loss is zero
    for g(t) = target; unmatched contents are skipped by name; no target, no weight."""
    from studio.adain.train import _Sampler, _triplets, exemplar_loss

    cdir, sdir = _data(tmp_path, n=3)
    tdir = tmp_path / "target" / "x"
    tdir.mkdir(parents=True)
    for i in range(2):  # content x/2.png has no target
        (tdir / f"{i}.png").write_bytes((cdir / "x" / f"{i}.png").read_bytes())
    p = TrainParams(content_dir=str(cdir), style_dir=str(sdir), target_dir=str(tdir.parent),
                    batch_size=4, image_size=0, crop_size=16, seed=3)
    from studio.adain.train import _scan

    triples, unmatched = _triplets(_scan(p.content_dir, "c"), _scan(p.style_dir, "s"), p)
    assert sorted(t[0].name for t in triples) == ["0.png", "1.png"]
    assert all(t[1] == sdir / "x" / t[0].name for t in triples)
    assert str(cdir / "x" / "2.png") in unmatched and str(cdir / "bad.png") in unmatched
    (content, style, target), errors = _Sampler(triples, "content", p).batch(0)
    assert content.shape == style.shape == target.shape == (4, 3, 16, 16) and not errors
    assert torch.equal(content, target)  # same files, so the same crops
    assert not torch.equal(content, style)

    torch.manual_seed(0)
    model = AdaINModel(TINY)
    x, y = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    assert exemplar_loss(model, x, x).item() == 0.0
    assert exemplar_loss(model, x, y).item() > F.mse_loss(x, y).item()  # + the features
    metrics = _one_step_metrics(tmp_path / "m", model, target_dir=str(tdir.parent),
                                exemplar_weight=3.0)
    assert metrics["loss_exemplar"] > 0
    with pytest.raises(ValueError, match="--exemplar_weight needs --target_dir"):
        _one_step_metrics(tmp_path / "n", model, exemplar_weight=1.0)


def test_exemplar_alpha_trains_the_trade_off(tmp_path):
    """--exemplar_alpha (a named deviation): some iterations train at an alpha below 1,
    drawn from the iteration's own seed; at alpha 0 the exemplar target is the content
    itself and the style loss drops out; without an exemplar weight it is refused."""
    from studio.adain.train import batch_alpha, exemplar_loss, training_losses

    p = TrainParams(exemplar_alpha=0.5, exemplar_weight=2.0, seed=4)
    alphas = [batch_alpha(p, i) for i in range(400)]
    assert alphas == [batch_alpha(p, i) for i in range(400)]  # resumable: same draws
    low = [a for a in alphas if a < 1.0]
    assert 0.4 < len(low) / 400 < 0.6 and min(low) >= 0.0 and len(set(low)) == len(low)
    assert {batch_alpha(TrainParams(), i) for i in range(50)} == {1.0}  # off by default

    torch.manual_seed(0)
    model = AdaINModel(TINY)
    c, s, t = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    terms, g = training_losses(model, p, c, s, t, alpha=0.0)
    assert terms["loss_style"].item() == 0.0
    assert terms["loss_exemplar"].item() == pytest.approx(2.0 * exemplar_loss(model, g, c).item())
    assert torch.allclose(g, model.decode(model.encode(c)))  # t = f(c) at alpha 0
    terms1, _ = training_losses(model, p, c, s, t, alpha=1.0)
    assert terms1["loss_style"].item() > 0
    with pytest.raises(ValueError, match="--exemplar_alpha needs --exemplar_weight"):
        _one_step_metrics(tmp_path / "n", model, exemplar_alpha=0.5)


def test_exemplar_texture_loss_asks_for_the_pattern_not_its_phase(tmp_path):
    """--exemplar_texture_weight (a named deviation): statistics over the pixels where the
    target differs from the content; a shifted copy of the target's stripes costs far less
    than the stripes' mean colour (which the phase-sensitive exemplar loss prefers); images
    whose target equals the content are left out; without an exemplar weight it is refused."""
    from studio.adain.train import (
        exemplar_loss,
        exemplar_texture_loss,
        figure_mask,
        training_losses,
    )

    feat = torch.rand(2, 5, 8, 8)
    mean, std = ops.masked_mean_std(feat, torch.ones(2, 1, 8, 8), correction=0)
    ref_mean, ref_std = ops.calc_mean_std(feat)
    assert torch.allclose(mean, ref_mean, atol=1e-6)
    assert torch.allclose(std, ref_std, rtol=0.02)  # biased vs unbiased variance, n = 64
    assert torch.allclose(ops.masked_mean_std(feat, torch.ones(2, 1, 8, 8))[1], ref_std,
                          atol=1e-6)  # correction 1: AdaIN's own statistics
    half = torch.zeros(1, 1, 8, 8)
    half[..., :4] = 1
    m_half, _ = ops.masked_mean_std(feat[:1], half, correction=0)
    assert torch.allclose(m_half, feat[:1, :, :, :4].mean(dim=(2, 3), keepdim=True), atol=1e-6)

    content = torch.full((2, 3, 32, 32), 0.5)
    target = content.clone()
    stripes = (torch.arange(32) // 2 % 2).float().view(1, 32, 1).expand(3, 32, 32)
    target[0, :, 8:24, 8:24] = stripes[:, 8:24, 8:24]  # image 1 keeps target == content
    mask = figure_mask(content, target)
    assert mask[0, 0, 8:24, 8:24].mean() > 0.4 and mask[0, 0, :8].sum() == 0
    assert mask[1].sum() == 0
    shifted, flat = target.clone(), target.clone()
    shifted[0, :, 8:24, 8:24] = stripes[:, 9:25, 8:24]  # the same stripes, other phase
    flat[0, :, 8:24, 8:24] = stripes[:, 8:24, 8:24].mean()
    torch.manual_seed(0)
    model = AdaINModel(TINY)
    with torch.no_grad():
        assert exemplar_texture_loss(model, target, target, mask).item() == 0.0
        l_shift = exemplar_texture_loss(model, shifted, target, mask).item()
        l_flat = exemplar_texture_loss(model, flat, target, mask).item()
        assert l_shift < 0.2 * l_flat
        # the exemplar loss ranks them the other way round
        assert exemplar_loss(model, flat, target) < exemplar_loss(model, shifted, target)
        assert exemplar_texture_loss(model, flat[1:], target[1:], mask[1:]).item() == 0.0
        # training shares one encoding of g(t) and the target between both exemplar terms
        p = TrainParams(exemplar_weight=2.0, exemplar_texture_weight=3.0)
        terms, g = training_losses(model, p, content, shifted, target)
        assert terms["loss_exemplar"].item() == pytest.approx(
            2.0 * exemplar_loss(model, g, target).item(), rel=1e-6)
        assert terms["loss_exemplar_texture"].item() == pytest.approx(
            3.0 * exemplar_texture_loss(model, g, target, mask).item(), rel=1e-6)
    with pytest.raises(ValueError, match="--exemplar_texture_weight needs --exemplar_weight"):
        _one_step_metrics(tmp_path / "n", model, exemplar_texture_weight=1.0)
