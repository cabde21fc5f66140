"""Studio: make image datasets that train and probe classifiers (AdaIN, NaturalInversion, TSIT)."""

__version__ = "0.1.0"
