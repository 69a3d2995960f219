"""``python -m deepfound`` is the ``deepfound`` command."""

from deepfound.cli import main

main()
