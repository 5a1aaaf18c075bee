"""Command-line interface (``cheaptalk COMMAND``)."""
