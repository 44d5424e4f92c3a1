"""``python -m pipeline.cli``: the same as the ``imr`` command."""
from . import main

main()
