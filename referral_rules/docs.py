"""Generate ``docs/rulesets/<id>.md`` and ``docs/facts.md`` from the rulesets.

The ruleset documents (Chinese and English, with a Mermaid flowchart of rule → outcome) are for
clinicians and policy staff; ``facts.md`` is the data dictionary for HIS integrators. They are
generated so they never drift from the YAML: ``referral-rules docs`` writes them and
``referral-rules docs --check`` (and a test) fails when the committed copies are stale.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .bind import facts_of
from .ir import Bundle, Computed, RulesetIR
from .model import Block, Citation, Definition, FactSpec, Rule, RulesetFile, Text
from .operators import OPS

__all__ = ["condition_text", "fact_readers", "render_all", "render_facts", "render_flow",
           "render_ruleset", "write_docs"]

_DIRECTION = {"up": "上转 up", "down": "下转 down", "stay": "留治 stay"}
_URGENCY = {"emergency": "紧急 emergency", "urgent": "尽快（当日） urgent",
            "routine": "常规 routine", None: "未规定 not set"}
_LEVEL = {"primary": "基层 primary", "secondary": "二级 secondary", "tertiary": "三级 tertiary",
          None: "—"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _when(value: str | Block, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(value, str):
        return [f"{pad}- `{value}`"]
    if value.all is not None:
        head, items = "all of / 全部满足:", value.all
    elif value.any is not None:
        head, items = "any of / 任一满足:", value.any
    else:
        assert value.not_ is not None
        head, items = "not / 不满足:", [value.not_]
    out = [f"{pad}- {head}"]
    for item in items:
        out.extend(_when(item, depth + 1))
    return out


def _cites(value: Citation | list[Citation] | None, spec: RulesetFile) -> str:
    items = value if isinstance(value, list) else [value] if value else []
    parts = []
    for c in items:
        src = spec.sources.get(c.source)
        title = src.title if src else c.source
        parts.append(f"{c.source} {title}, {c.clause}")
    return "; ".join(parts) or "—"


def _note(note: str | Text | None) -> list[str]:
    if note is None:
        return []
    if isinstance(note, str):
        return [f"- Note / 说明: {note}"]
    return [f"- 说明: {note.zh}", f"- Note: {note.en}"]


def _definition(name: str, d: Definition, spec: RulesetFile) -> str:
    if d.value is not None:
        what = f"`{d.value}`" + (f" {d.unit}" if d.unit else "")
    elif d.when is not None:
        what = "condition: " + " ".join(x.strip("- ") for x in _when(d.when))
    elif isinstance(d.compute, str):
        what = f"computed: `{d.compute}`" + (f", otherwise `{d.otherwise}`" if d.otherwise else "")
    else:
        pieces = ", ".join(f"`{p.when}` → {p.value}" for p in d.compute or [])
        what = f"computed: {pieces}" + (f", otherwise `{d.otherwise}`" if d.otherwise else "")
    note = d.note if isinstance(d.note, str) else (d.note.en if d.note else "")
    return f"| `{name}` | {_cell(what)} | {_cell(_cites(d.citation, spec))} | {_cell(note)} |"


def _rule(rule: Rule, ir: RulesetIR, spec: RulesetFile) -> list[str]:
    out = [f"### {rule.id} — {rule.title.zh}", "", f"*{rule.title.en}*", ""]
    out.append(f"- Criterion / 标准编号: {rule.criterion or '—'}")
    out.append(f"- Direction / 方向: {_DIRECTION[rule.direction]}; urgency / 紧急程度: "
               f"{_URGENCY[rule.urgency] if rule.direction == 'up' else '—'}; target level / "
               f"目标级别: {_LEVEL[rule.target_level]}")
    out.append("- When / 条件:")
    out.extend("  " + line for line in _when(rule.when))
    thresholds = ir.thresholds.get(rule.id, ())
    if thresholds:
        shown = ", ".join(f"`{f} {op} {v:g}`" for f, op, v in thresholds)
        out.append(f"- Thresholds / 阈值: {shown}")
    if rule.records:
        out.append(f"- Extra records / 附加资料: {', '.join(f'`{r}`' for r in rule.records)}")
    out.append(f"- Source / 依据: {_cites(rule.citation, spec)}")
    for advice in rule.advice:
        out.append(f"- 提示: {advice.zh} / Advice: {advice.en}")
    out.extend(_note(rule.note))
    out.append("")
    return out


# --- Mermaid flowchart: rule → outcome --------------------------------------------------------

_FLOW_LABEL_MAX = 120  # characters of condition text shown in a rule node before "…"
_FLOW_LINE = 38  # characters per line of a node label
_TIE = "\x00"  # a space that wrapping does not break at

# (node id, English, Chinese, class) per outcome, in the order the outcome nodes are drawn.
_OUTCOMES: dict[tuple[str, str | None], tuple[str, str, str, str]] = {
    ("up", "emergency"): ("up_emergency", "up · emergency", "紧急上转", "emergency"),
    ("up", "urgent"): ("up_urgent", "up · urgent", "尽快（当日）上转", "urgent"),
    ("up", "routine"): ("up_routine", "up · routine", "常规上转", "routine"),
    ("up", None): ("up_unset", "up · urgency not set", "上转（未规定紧急程度）", "unset"),
    ("down", "primary"): ("down_primary", "down → primary", "下转至基层", "down"),
    ("down", "secondary"): ("down_secondary", "down → secondary", "下转至二级", "down"),
    ("down", None): ("down_unset", "down → primary (default)", "下转至基层（默认）", "down"),
    ("stay", None): ("stay", "stay", "留治", "stay"),
}
_CLASSES = {
    "emergency": "fill:#f8d7da,stroke:#b02a37,color:#58151c",
    "urgent": "fill:#ffe5d0,stroke:#c4571b,color:#5c2a0c",
    "routine": "fill:#fff3cd,stroke:#997404,color:#4d3a02",
    "unset": "fill:#e2e3e5,stroke:#6c757d,color:#2b2f32",
    "down": "fill:#d1e7dd,stroke:#146c43,color:#0a3622",
    "stay": "fill:#cfe2ff,stroke:#0a58ca,color:#052c65",
}
_OPS = {name: OPS[name].symbol for name in (">=", "<=", "!=", "==", "<", ">")}


def condition_text(value: str | Block, nested: bool = False) -> str:
    """A condition as one line of text, parenthesised where it is part of a larger one."""
    if isinstance(value, str):
        text = " ".join(value.split())
        return f"({text})" if nested and (" or " in text or " and " in text) else text
    if value.not_ is not None:
        return "not " + condition_text(value.not_, nested=True)
    items, sep = (value.all, " and ") if value.all is not None else (value.any or [], " or ")
    text = sep.join(condition_text(item, nested=True) for item in items)
    return f"({text})" if nested and len(items) > 1 else text


def _short(text: str, limit: int = _FLOW_LABEL_MAX) -> str:
    """Operators as ≥ ≤ ≠ =, cut at a word before ``limit`` characters.

    The operator is tied to its right operand (and "…" to the word before it) with ``_TIE``, so
    a wrapped label never ends a line with ``≥`` or starts one with "…".
    """
    text = re.sub(r"\s*(>=|<=|!=|==|<|>)\s*", lambda m: f" {_OPS[m.group(1)]}{_TIE}", text)
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0] + _TIE + "…"
    return text


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: no ``"``; ``#``, ``<``, ``>`` as entity codes."""
    return (text.replace('"', "'").replace("#", "#35;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def _label(lines: list[str]) -> str:
    return "<br/>".join(_mermaid_text(line) for line in lines)


def _wrap(text: str, width: int = _FLOW_LINE) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return [line.replace(_TIE, " ") for line in lines]


def _outcome(rule: Rule) -> tuple[str, str, str, str]:
    key = rule.urgency if rule.direction == "up" else rule.target_level
    return _OUTCOMES[(rule.direction, key if rule.direction != "stay" else None)]


def render_flow(spec: RulesetFile) -> list[str]:
    """A Mermaid flowchart of the ruleset: one node per rule (file order), edges to outcomes."""
    out = ["```mermaid", "flowchart LR"]
    for i, rule in enumerate(spec.rules):
        out.append(f'    r{i}["{_label([rule.id, *_wrap(_short(condition_text(rule.when)))])}"]')
    used = {_outcome(rule) for rule in spec.rules}
    outcomes = [o for o in _OUTCOMES.values() if o in used]
    for node, en, zh, _ in outcomes:
        out.append(f'    {node}(["{_label([en, zh])}"])')
    for i, rule in enumerate(spec.rules):
        node = _outcome(rule)[0]
        level = rule.target_level if rule.direction == "up" else None
        out.append(f"    r{i} -->|to {level}| {node}" if level else f"    r{i} --> {node}")
    classes = dict.fromkeys(cls for *_, cls in outcomes)
    for cls in classes:
        out.append(f"    classDef {cls} {_CLASSES[cls]}")
    for cls in classes:
        nodes = ",".join(node for node, *_, c in outcomes if c == cls)
        out.append(f"    class {nodes} {cls}")
    out.append("```")
    return out


def _scope(spec: RulesetFile) -> str:
    if "applies_to" not in spec.model_fields_set:
        return "every patient (no `applies_to`) / 所有患者（未声明适用范围）"
    return (f"`{condition_text(spec.applies_to)}` — without explicit conditions the rules advise "
            "only in this scope; with it unknown, only emergencies true on the recorded facts "
            "are raised / 未指定病种时，仅在此范围内给出建议；范围未知时只提示已记录信息证实的急症")


def render_ruleset(ir: RulesetIR) -> str:
    """The Markdown document of one ruleset."""
    spec = ir.spec
    assert spec is not None
    out = [
        f"# {ir.title.zh} / {ir.title.en} (`{ir.id}` {ir.version})",
        "",
        "<!-- Generated by `referral-rules docs` from "
        f"{Path(ir.file).name}; do not edit by hand. -->",
        "",
        "本文件由规则集自动生成，供临床与医务管理人员查阅；规则只提供转诊建议，由医师决定。",
        "Generated from the ruleset for clinicians and policy staff; the rules give advice, a "
        "clinician decides.",
        "",
        f"- Rules / 规则数: {len(ir.rules)}; test cases / 用例数: {len(ir.cases)}",
        f"- Applies to / 适用范围: {_scope(spec)}",
        f"- Specialty (destination exception) / 专科: {ir.specialty or '—'}",
        f"- File sha256: `{ir.sha256}`",
        "",
        "## Sources / 来源",
        "",
        "| id | title / 标题 | clause use / 链接 |",
        "|---|---|---|",
    ]
    for sid, src in spec.sources.items():
        link = src.url or (f"shared/seeds/{src.file}" if src.file else "")
        out.append(f"| {sid} | {_cell(src.title)} | {_cell(link)} |")
    if spec.definitions:
        out += ["", "## Definitions (editable thresholds) / 定义（可修改的阈值）", "",
                "| name / 名称 | value / 值 | source / 依据 | note / 说明 |", "|---|---|---|---|"]
        out += [_definition(n, d, spec) for n, d in spec.definitions.items()]
    if spec.rules:
        out += ["", "## Flow / 流程图", "",
                "每条规则（按文件顺序）及其结论；条件过长时截断，完整条件见下文。",
                "Each rule (in file order) and the outcome it gives; long conditions are "
                "shortened, the full condition is below.", ""]
        out += render_flow(spec)
    for direction, heading in (("up", "Up-transfer / 上转"), ("down", "Down-transfer / 下转"),
                               ("stay", "Stay / 留治")):
        rules = [r for r in spec.rules if r.direction == direction]
        if rules:
            out += ["", f"## {heading}", ""]
            for rule in rules:
                out += _rule(rule, ir, spec)
    out += ["## Not encoded / 未编码的内容", ""]
    if spec.not_encoded:
        out += ["| criterion | 内容 | 原因 | item | reason |", "|---|---|---|---|---|"]
        for ne in spec.not_encoded:
            out.append(f"| {ne.criterion or '—'} | {_cell(ne.item.zh)} | {_cell(ne.reason.zh)} | "
                       f"{_cell(ne.item.en)} | {_cell(ne.reason.en)} |")
    else:
        out.append("Nothing is listed as deliberately left out. / 无。")
    return "\n".join(out).rstrip() + "\n"


# --- docs/facts.md: the data dictionary ------------------------------------------------------

# Facts the resolver reads itself, outside any rule (see resolve.py); listed so an integrator
# does not take them for unused.
_RESOLVER_READS = {
    "care_level": "resolver: direction is relative to the current level / 判断转诊方向",
    "accepts_transfer": "resolver: refusal (`no` needs a signed refusal) / 拒绝转诊签字",
}


def _computed(bundle: Bundle) -> dict[str, Computed]:
    return {c.name: c for rs in bundle.rulesets.values() for c in rs.computed}


def _expand(name: str, computed: dict[str, Computed], seen: tuple[str, ...] = ()) -> list[str]:
    """``name`` and, for a computed value, every fact and computed value it is worked out from."""
    item = computed.get(name)
    if item is None or name in seen:
        return [name]
    out = [name]
    for inp in item.inputs:
        out += _expand(inp, computed, (*seen, name))
    return out


def fact_readers(bundle: Bundle) -> dict[str, list[str]]:
    """Fact or computed-value name → ids of the rules that read it, in bundle order.

    A rule that reads a computed value (``heart_score``) reads the value's inputs too.
    """
    computed = _computed(bundle)
    readers: dict[str, dict[str, None]] = {}
    for rule in bundle.rules:
        for fact in rule.facts:
            for name in _expand(fact, computed):
                readers.setdefault(name, {})[rule.id] = None
    return {name: list(ids) for name, ids in readers.items()}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _range(bounds: list[float] | tuple[float, float] | None) -> str:
    return f"[{_num(bounds[0])}, {_num(bounds[1])}]" if bounds else "—"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _ids(ids: list[str]) -> str:
    return ", ".join(ids) if ids else "—"


def _fact_row(name: str, fact: FactSpec, readers: list[str], extra: list[str]) -> str:
    values = ("`true`, `false`" if fact.type == "boolean"
              else ", ".join(f"`{v}`" for v in fact.values or []) or "—")
    en = fact.en + (f" ({fact.note})" if fact.note else "")
    read = "; ".join([*([", ".join(readers)] if readers else []), *extra]) or (
        "— (informational / 仅供参考)" if fact.informational else "—")
    derived = "yes / 是" if fact.derive else "—"
    cells = [f"`{name}`", fact.type, fact.unit or "—", _range(fact.range), values,
             "**yes**" if fact.required else "no", fact.zh, en, read, derived]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _how(item: Computed, spec: RulesetFile | None) -> str:
    d = spec.definitions.get(item.name) if spec else None
    if d is None:
        return "—"
    if isinstance(d.compute, str):
        how = f"`{d.compute}`"
    else:
        how = "; ".join(f"`{p.when}` → {_num(p.value)}" for p in d.compute or [])
    if d.otherwise:
        how += f"; otherwise (when it cannot be worked out) `{d.otherwise}`"
    return how


def render_facts(bundle: Bundle, rulesets_link: str = "rulesets") -> str:
    """The data dictionary of the fact vocabulary, for HIS integrators (Markdown)."""
    vocab = bundle.vocabulary
    readers = fact_readers(bundle)
    computed = _computed(bundle)
    policy = {f: ["policy: emergency bypass / 紧急绕行"] for f in facts_of(bundle.policy.bypass)}
    for rs in bundle.rulesets.values():
        for fact in facts_of(rs.scope):
            policy.setdefault(fact, []).append(f"scope of {rs.id} / 适用范围")
    for derived in bundle.derived:
        for fact in derived.inputs:
            policy.setdefault(fact, []).append(f"derives `{derived.fact}` / 用于推出")
    extra = {name: [*policy.get(name, []), *([_RESOLVER_READS[name]]
                                            if name in _RESOLVER_READS else [])]
             for name in vocab.facts}
    unused = [n for n in vocab.facts if not readers.get(n) and not extra[n]]
    informational = [n for n in unused if vocab.facts[n].informational]
    unread = [n for n in unused if not vocab.facts[n].informational]
    unused_note = "".join([
        "; *informational* facts are recorded for context on purpose: " + _names(informational)
        if informational else "",
        "; not read and not marked informational: " + _names(unread) if unread else "",
    ])
    out = [
        "# Fact vocabulary / 事实词表 (data dictionary)",
        "",
        "<!-- Generated by `referral-rules docs` from facts.yaml and the rulesets; "
        "do not edit by hand. -->",
        "",
        "本文件由 `rulesets/facts.yaml` 自动生成，供 HIS/EHR 对接人员使用："
        "患者记录可以发送的每个事实、类型、单位、合理取值范围、是否必填，以及读取它的规则。",
        "Generated from `rulesets/facts.yaml` for HIS/EHR integrators: every fact a patient "
        "record may send, with its type, unit, plausible range, whether it is required, and the "
        "rules that read it. The API and the Decision contract are in "
        "[integration.md](integration.md).",
        "",
        f"- Vocabulary version / 词表版本: {vocab.version}; facts / 事实数: {len(vocab.facts)}; "
        f"computed values / 计算值: {len(computed)}",
        f"- File sha256: `{bundle.vocabulary_sha256}`",
        "- Order / 顺序: as in facts.yaml (policy facts first, then each ruleset's facts).",
        "",
        "How to send a value / 取值规则:",
        "",
        "- `number`: a finite JSON number within the range; `integer`: a whole JSON number; "
        "`boolean`: `true` or `false` (not quoted); `enum`: one of the listed strings. "
        "The range is a plausibility check, not a clinical threshold.",
        "- `null` or leaving a fact out means *unknown*; a decision that an unknown fact could "
        "change is reported as incomplete. An unknown name, a wrong type or an out-of-range "
        "value is rejected with one error per fact — never silently ignored.",
        "- **Read by** lists the rules that read the fact; a rule that reads a computed value "
        "(below) reads its inputs too. \"—\" means no rule reads it" + unused_note + ".",
        "- **Derived** facts (below) are worked out from recorded facts when they are not "
        "recorded themselves; a recorded value always wins. / 标为“推出”的事实在未记录时由其他"
        "已记录信息推出，已记录的值优先。",
        "- **FHIR**: how each fact is read from FHIR R4 (LOINC / SNOMED CT / ICD-10 codes, units) "
        "is in [fhir-mapping.md](fhir-mapping.md). / FHIR 映射见 fhir-mapping.md。",
        "",
        "## Facts / 事实",
        "",
        "| name | type | unit | range | values | required | 说明 | description | read by | "
        "derived / 推出 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    out += [_fact_row(name, fact, readers.get(name, []), extra[name])
            for name, fact in vocab.facts.items()]
    out += [
        "",
        "## Computed values / 计算值",
        "",
        "Worked out by the engine before matching; not sent by the HIS. When an input is "
        "missing, a value with an *otherwise* fact uses that fact (sent by the HIS), and is "
        "unknown if that is missing too. / 由引擎在匹配前计算，HIS 无需发送；分项缺失时改用 "
        "otherwise 所列的直接录入值。",
        "",
        "| name | ruleset | type | unit | range | how computed | inputs | read by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in computed.values():
        rs = bundle.rulesets[item.ruleset]
        link = f"[{rs.id}]({rulesets_link}/{rs.id}.md)"
        cells = [f"`{item.name}`", link, item.info.type, item.info.unit or "—",
                 _range(item.info.range), _how(item, rs.spec),
                 _names(list(item.inputs)), _ids(readers.get(item.name, []))]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not computed:
        out.append("| — | | | | | | | |")
    out += _derived_section(bundle)
    return "\n".join(out) + "\n"


def _derived_section(bundle: Bundle) -> list[str]:
    vocab = bundle.vocabulary.spec
    out = [
        "",
        "## Derived facts / 推出的事实",
        "",
        "When the fact itself is not recorded, the first row whose condition is true gives its "
        "value (a row whose condition is unknown stops the search); the decision lists every "
        "derived fact with what it came from. / 事实本身未记录时，按顺序取第一个条件成立的行；"
        "决策中列出每个推出的事实及其依据。",
        "",
        "| fact | # | when / 条件 | value / 值 | source or convention / 依据或约定 |",
        "|---|---|---|---|---|",
    ]
    for derived in bundle.derived:
        spec = vocab.facts[derived.fact].derive or []
        for i, piece in enumerate(spec, start=1):
            value = f"`{piece.compute}`" if piece.compute else f"`{_value(piece.value)}`"
            why = []
            for c in _flat(piece.citation):
                src = vocab.sources.get(c.source)
                title = src.title if src else c.source
                why.append(f"{title}, {c.clause}" + (f": “{c.quote}”" if c.quote else ""))
            if piece.convention is not None:
                why.append(f"convention / 约定: {piece.convention.en} / {piece.convention.zh}")
            cells = [f"`{derived.fact}`", str(i), f"`{condition_text(piece.when)}`", value,
                     "<br>".join(why)]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not bundle.derived:
        out.append("| — | | | | |")
    return out


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flat(value: Citation | list[Citation] | None) -> list[Citation]:
    return [] if value is None else value if isinstance(value, list) else [value]


def render_all(bundle: Bundle) -> dict[str, str]:
    """File name → Markdown, for every ruleset."""
    return {f"{rs.id}.md": render_ruleset(rs) for rs in bundle.rulesets.values()}


def write_docs(
    bundle: Bundle, out: Path, check: bool = False, facts: Path | None = None
) -> list[str]:
    """Write the documents (or, with ``check``, list the ones that are stale or missing).

    ``out`` is the directory of the ruleset documents; ``facts`` the data dictionary (default:
    ``facts.md`` next to ``out``).
    """
    facts = facts if facts is not None else out.parent / "facts.md"
    link = Path(os.path.relpath(out.resolve(), facts.parent.resolve())).as_posix()
    docs = {out / name: text for name, text in render_all(bundle).items()}
    docs[facts] = render_facts(bundle, link)
    stale = []
    for path, text in docs.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            stale.append(str(path))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    return stale
