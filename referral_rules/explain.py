"""Explain: a Decision as plain text for a clinician, in Chinese or English. Rendering only."""

from __future__ import annotations

from typing import Literal

from .decision import Decision
from .present import WORDS, present

__all__ = ["explain"]

Lang = Literal["zh", "en"]


def explain(decision: Decision, lang: Lang = "en") -> str:
    """Render ``decision`` for a clinician in ``lang`` (``zh`` or ``en``)."""
    p = present(decision, lang)
    w = WORDS[lang]
    colon = w["colon"]
    lines = [p.title]
    first = [s for s in p.sections if s.key == "possible_emergencies"]
    rest = [s for s in p.sections if s.key != "possible_emergencies"]

    def section(title: str, items: list[tuple[str, str | None, tuple[str, ...]]]) -> None:
        lines.append(f"{title}{colon}")
        for text, code, details in items:
            lines.append(f"  - [{code}] {text}" if code and code != text else f"  - {text}")
            lines.extend(f"    {d}" for d in details)

    for s in first:  # never buried under the rest
        section("!! " + s.title, [(x.text, x.code, x.details) for x in s.lines])
    lines.append(f"{w['direction']}{colon}{p.headline}")
    lines.extend(f"{label}{colon}{value}" for label, value in p.facts)
    for s in rest:
        if s.key == "refusal":
            lines.append(f"{s.title}{colon}{s.lines[0].text}")
            continue
        plain = s.key in ("records", "advice", "notes", "not_assessed")
        section(s.title, [(x.text, None if plain else x.code, x.details) for x in s.lines])
    lines.append(f"{w['versions']}{colon}{p.versions}")
    lines.append(p.disclaimer)
    return "\n".join(line.rstrip() for line in lines) + "\n"
