"""tests/ on the import path, for the client calls this suite shares (tests/stack_clients.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
