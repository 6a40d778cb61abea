import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "lam"))  # the shared tiny data: lam_support
