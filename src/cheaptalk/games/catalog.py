"""Names of the bundled preset games (their TOML files are in ``presets/``), importable
without the game classes (the command line lists them at start-up)."""

PRESETS = ("forecast-sharing", "crawford-sobel", "monotone")
