"""Texture vs shape (Geirhos et al. 2019): Stylized-ImageNet builds, cue-conflict stimuli,
Gatys transfer, shape bias and the toy texture-bias experiment."""
