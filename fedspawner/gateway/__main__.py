"""``python -m fedspawner.gateway --config FILE``."""

from .app import main

main()
