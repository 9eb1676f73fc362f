"""Files shipped inside the wheel, with the checksums that pin them.

The local embedding model's tokenizer lives here (not downloaded at run time) so the
server embeds text offline; its SHA-256 is pinned so a corrupted or swapped file fails
loudly at load instead of producing silently different vectors.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent

#: sentence-transformers all-MiniLM-L6-v2 ``tokenizer.json`` (Apache-2.0, see the NOTICE).
MINILM_TOKENIZER_PATH = DATA_DIR / "all-MiniLM-L6-v2.tokenizer.json"
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
