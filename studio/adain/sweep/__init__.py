"""Stylize sweeps: a contact sheet of AdaIN results (alpha steps, or contents × styles).

``params`` is torch-free (the window and the command line read it without the engine);
``job`` renders the sheet. A package, not ``sweep.py`` + ``sweep_params.py``, because the
params test requires a job's params module to be named ``*.params``.
"""
