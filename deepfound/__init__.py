"""deepfound: deep learning rebuilt from its foundations, on numpy alone."""

__version__ = "0.1.0"
