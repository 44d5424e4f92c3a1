"""Rules kept as JSONL data files, and saving/loading the components built on them."""
from __future__ import annotations

import json
from pathlib import Path


def load_rules(path: str | Path) -> list[dict]:
    """One rule per JSONL line; blank lines and ``//`` comment lines are skipped."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip() and not line.startswith("//")]


class RulesComponent:
    """Mixin for a pipeline component driven by ``self.rules``: the rules travel with the
    saved pipeline as ``rules.jsonl`` and ``compile`` rebuilds what is derived from them."""

    def compile(self) -> None:
        """Rebuild matchers or regexes from ``self.rules`` (nothing by default)."""

    def to_disk(self, path, exclude=tuple()):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "rules.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.rules),
                                          encoding="utf-8")

    def from_disk(self, path, exclude=tuple()):
        self.rules = load_rules(Path(path) / "rules.jsonl")
        self.compile()
        return self
