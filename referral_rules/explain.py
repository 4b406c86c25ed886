"""Explain: a Decision as plain text for a clinician, in Chinese or English. Rendering only."""

from __future__ import annotations

from typing import Literal

from .decision import Decision
from .present import WORDS, Line, present

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

    def section(title: str, items: list[Line], plain: bool = False) -> None:
        lines.append(f"{title}{colon}")
        group = None
        for item in items:
            indent = "  "
            if item.group is not None:
                if item.group != group:
                    lines.append(f"  {item.group}{colon}")
                    group = item.group
                indent = "    "
            code = None if plain else item.code
            lines.append(f"{indent}- [{code}] {item.text}" if code and code != item.text
                         else f"{indent}- {item.text}")
            lines.extend(f"{indent}  {d}" for d in item.details)

    for s in first:  # never buried under the rest
        section("!! " + s.title, list(s.lines))
    lines.append(f"{w['direction']}{colon}{p.headline}")
    lines.extend(f"{label}{colon}{value}" for label, value in p.facts)
    for s in rest:
        if s.key == "refusal":
            lines.append(f"{s.title}{colon}{s.lines[0].text}")
            continue
        section(s.title, list(s.lines), s.key in ("records", "advice", "notes", "not_assessed"))
    lines.append(f"{w['versions']}{colon}{p.versions}")
    lines.append(p.disclaimer)
    return "\n".join(line.rstrip() for line in lines) + "\n"
