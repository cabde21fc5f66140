"""Shared engine pieces: image I/O, jobs, recipes, checkpoints, devices, seeding."""
