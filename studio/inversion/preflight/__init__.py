"""The teacher check before a synthesis (`synthesize-preflight`).

Torch-free package: :mod:`.params` is read by the command line, recipes and the window
without importing the engine; :mod:`.job` (torch) runs the check.
"""
