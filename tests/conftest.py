from __future__ import annotations

import os
import re
import sys
from pathlib import Path

# litellm otherwise downloads a price list at import; CI has no network for that.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).parent))


def quality(text: str) -> float:
    """Test candidates end with their true quality, e.g. "answer B, quality 7"."""
    return float(re.findall(r"-?\d+(?:\.\d+)?", text)[-1])
