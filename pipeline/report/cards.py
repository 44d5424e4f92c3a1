"""Model cards: what each champion is, what it saw, how well it does and where it does not."""
from __future__ import annotations

from pathlib import Path

from .. import project
from ..errors import StoreError

CARD = "README.md"


def card_path(name: str) -> Path:
    """The card of a champion folder: ``models/<name>/README.md`` (``name`` may be a path)."""
    p = Path(name)
    folder = p if p.is_dir() else project.models_dir() / name
    return folder / CARD


def read_card(name: str) -> str:
    path = card_path(name)
    if not path.is_file():
        there = sorted(c.parent.name for c in project.models_dir().glob(f"*/{CARD}"))
        raise StoreError(f"no model card at {path} (cards: {', '.join(there) or 'none; run `imr evaluate`'})")
    return path.read_text(encoding="utf-8")
