import sys
from pathlib import Path

# the small closed-form test models live with the estimation tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "estimation"))
