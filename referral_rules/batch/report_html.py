"""The indicators report as one self-contained, bilingual HTML page (plotly, inlined).

Rendered from ``Report.to_dict()`` only. plotly.js is inlined once, so the page opens offline;
every chart has a fixed div id and the page has no timestamps, so the same report gives the
same bytes. Each chart has a table with its numbers underneath. A chart with nothing to show
(no rows, or rates whose denominators are all zero) is replaced by "无数据 No data": plotly would
otherwise draw an empty axis from −100% to 400%. The policy document is cited by its title.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped, unused-ignore]
import plotly.io as pio  # type: ignore[import-untyped, unused-ignore]
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped, unused-ignore]

from ._report_text import ADVICE, DIRECTIONS, MET

__all__ = ["CHART_IDS", "render"]

CHART_IDS = ("chart-targets", "chart-condition", "chart-level", "chart-inpatients",
             "chart-criteria", "chart-missing")
COLOURS = {"up": "#c0392b", "down": "#27ae60", "stay": "#7f8c8d", "failed": "#2c3e50",
           "unknown": "#bdc3c7", "advised_down": "#27ae60", "checks_outstanding": "#f5b041"}
FONT = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, WenQuanYi Zen Hei, sans-serif"
CSS = """
body{font-family:FONT;margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1,h2{font-weight:600} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.en{color:#555;font-weight:400} table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;font-size:.9em}
td.n{text-align:right;font-variant-numeric:tabular-nums} th{background:#f4f6f7}
.note{font-size:.85em;color:#555} .warn{background:#fdecea;padding:.5em}
.disclaimer{background:#fef9e7;border-left:4px solid #f1c40f;padding:.6em 1em}
code{font-size:.85em} td:last-child{white-space:nowrap}
""".replace("FONT", FONT)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _bi(lab: dict[str, str] | None, sep: str = " ") -> str:
    """Chinese then English, escaped."""
    if not lab:
        return ""
    return f'{_e(lab["zh"])}{sep}<span class="en">{_e(lab["en"])}</span>'


def _plain(lab: dict[str, str] | None) -> str:
    return f'{lab["zh"]} {lab["en"]}' if lab else ""


def _tick(lab: dict[str, str]) -> str:
    """A short two-line axis label: the names without their parentheses."""
    return f'{lab["zh"].split("（")[0]}<br>{lab["en"].split(" (")[0]}'


NO_DATA = "无数据 No data"


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _pct(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.1f}%"


def _no_data(what: dict[str, str]) -> str:
    return (f'<p class="note nodata">无数据：{_e(what["zh"])}。<span class="en">No data: '
            f'{_e(what["en"])}.</span></p>')


def _rate_axis(values: list[float | None], goals: list[float]) -> dict[str, Any]:
    """A 0-based percentage axis that holds every bar and goal (never plotly's default)."""
    top = max([v for v in values if v is not None] + goals + [0.05])
    return {"tickformat": ".0%", "range": [0, min(1.0, top * 1.2) if top <= 1 else top * 1.1]}


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: int = 0) -> str:
    """A table; the last ``numeric`` columns are right-aligned. Cells are pre-escaped HTML."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = []
    for row in rows:
        cells = [f'<td class="n">{c}</td>' if i >= len(row) - numeric else f"<td>{c}</td>"
                 for i, c in enumerate(row)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chart(fig: Any, div_id: str, height: int = 420, left: int = 60) -> str:
    fig.update_layout(template="plotly_white", height=height, font={"family": FONT},
                      margin={"l": left, "r": 60, "t": 60, "b": 60},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                      xaxis={"tickangle": 0})
    out: str = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displaylogo": False, "responsive": True})
    return out


def _stacked(rows: list[dict[str, Any]], div_id: str) -> str:
    if not any(r["rows"] for r in rows):
        return _no_data({"zh": "没有行", "en": "there are no rows"})
    fig = go.Figure()
    x = [_tick(r["label"]) for r in rows]
    for d in ("up", "down", "stay", "failed", "unknown"):
        if any(d in r for r in rows):
            fig.add_bar(name=_plain(DIRECTIONS[d]), x=x, y=[r.get(d, 0) for r in rows],
                        marker_color=COLOURS[d])
    fig.update_layout(barmode="stack", yaxis_title="行数 Rows")
    return _chart(fig, div_id)


def _crosstab_table(rows: list[dict[str, Any]], first: str) -> str:
    keys = [d for d in ("up", "down", "stay", "failed", "unknown") if any(d in r for r in rows)]
    head = [first, "行数 Rows", *(_bi(DIRECTIONS[k]) for k in keys)]
    body = [[_bi(r["label"]), _n(r["rows"]), *(_n(r.get(k, 0)) for k in keys)] for r in rows]
    return _table(head, body, numeric=len(keys) + 1)


def _cite(c: dict[str, str]) -> str:
    return (f'<p class="note">{_e(c["title"])}，{_e(c["clause"])}：“{_e(c["quote"])}”'
            f'<span class="en">{_e(c["title_en"])}, clause {_e(c["clause"])}.</span></p>')


def _indicators(t: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per bar: name, actual rate, rules' rate, goals, table row."""
    out: list[dict[str, Any]] = []
    down, clinic = t.get("down_transfer"), t.get("outpatient_down")
    if down:
        out.append({"x": "住院下转率<br>Inpatient down-transfer", "rate": down["rate"],
                    "rules": down["rules_rate"], "goals": down["targets"],
                    "name": down["name"],
                    "whole": down["met"], "part": down["transferred"],
                    "clause": down["citation"]["clause"]})
    if clinic:
        out.append({"x": "门诊下转率<br>Outpatient down-transfer", "rate": clinic["rate"],
                    "rules": _ratio(clinic["rules_down"], clinic["rows"]),
                    "goals": clinic["targets"], "name": clinic["name"], "whole": clinic["rows"],
                    "part": clinic["transferred"], "clause": clinic["citation"]["clause"]})
    for cap in t["up_referral"]["caps"]:
        zh, en = cap["label"]["zh"], cap["label"]["en"].lower()
        out.append({"x": f"{zh}上转率<br>Up-referral, {en}", "rate": cap["rate"],
                    "rules": cap["rules_rate"], "goals": [cap],
                    "name": {"zh": f"{zh}向上转诊率", "en": f"Up-referral rate, {en}"},
                    "whole": cap["rows"], "part": cap["referred"],
                    "clause": t["up_referral"]["citation"]["clause"]})
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _goal(g: dict[str, Any]) -> str:
    return f'{g["year"]} {"≥" if g["kind"] == "at_least" else "≤"}{g["value"]:.0%}'


def _targets_chart(items: list[dict[str, Any]], x: list[str]) -> str:
    fig = go.Figure()
    fig.add_bar(name="实际 Actual", x=x, y=[i["rate"] for i in items], marker_color="#2980b9",
                text=[_pct(i["rate"]) for i in items], textposition="outside")
    fig.add_bar(name="规则判定 Rules' view", x=x, y=[i["rules"] for i in items],
                marker_color="#aed6f1",
                text=[_pct(i["rules"]) if i["rules"] is not None else "" for i in items],
                textposition="outside")
    fig.add_scatter(name="目标/上限 Target / cap", x=[None], y=[None], mode="lines",
                    line={"color": "#e67e22", "width": 3})
    for pos, item in enumerate(items):
        for goal in item["goals"]:
            fig.add_shape(type="line", x0=pos - 0.45, x1=pos + 0.45, y0=goal["value"],
                          y1=goal["value"], line={"color": "#e67e22", "width": 3})
            fig.add_annotation(x=pos + 0.45, y=goal["value"], text=_goal(goal), showarrow=False,
                               xanchor="right", yanchor="bottom", font={"color": "#e67e22"})
    for pos, item in enumerate(items):
        if item["rate"] is None:  # a zero denominator: say so where the bar would be
            fig.add_annotation(x=pos, y=0, text=NO_DATA, showarrow=False, yanchor="bottom",
                               font={"color": "#7f8c8d"})
    goals = [g["value"] for i in items for g in i["goals"]]
    fig.update_layout(barmode="group", yaxis={
        **_rate_axis([i["rate"] for i in items] + [i["rules"] for i in items], goals),
        "title": "比例 Rate"})
    return _chart(fig, "chart-targets")


def _targets(t: dict[str, Any]) -> str:
    if not t.get("available"):
        return ('<p class="note">输入中没有 <code>actual_transfer</code> 列，无法计算。'
                '<span class="en">The input has no <code>actual_transfer</code> column; '
                'these rates cannot be computed.</span></p>')
    items = _indicators(t)
    x = [i["x"] for i in items]
    rates = [i["rate"] for i in items] + [i["rules"] for i in items]
    if all(r is None for r in rates):
        chart = _no_data({"zh": "各指标的分母均为0", "en": "every indicator's denominator is 0"})
    else:
        chart = _targets_chart(items, x)
    head = ["指标 Indicator", "分母 Denominator", "分子 Numerator", "实际 Actual",
            "规则判定 Rules' view", "目标 Target", "条款 Clause"]
    rows = [[_bi(i["name"]), _n(i["whole"]), _n(i["part"]), _pct(i["rate"]), _pct(i["rules"]),
             "；".join(_goal(g) for g in i["goals"]), _e(i["clause"])] for i in items]
    parts = [chart, _table(head, rows, numeric=0),
             '<p class="note">“规则判定”：住院为符合下转标准者中规则建议下转（含待核对）的比例，'
             '门诊为规则建议下转者的比例，上转为规则建议上转者的比例'
             '（规则建议的上转以能提供所需诊治的最低级别为目标）。'
             '<span class="en">"Rules\' view": for inpatients, the share of those meeting the '
             'down-transfer criteria whom the rules advise down (with or without checks '
             'outstanding); for outpatients, the share the rules advise down; for up-referral, '
             'the share the rules advise to go up (an up rule targets the lowest level able to '
             'give the care, so a patient already there is not sent further up).</span></p>']
    down = t.get("down_transfer")
    if down:
        parts.append(_cite(down["citation"]))
        other, by = down["transferred_not_met"], down["transferred_by_advice"]
        ratio = _pct(down["clause_ratio"])
        parts.append(
            f'<p class="note">实际下转的符合标准者中：建议下转 {_n(by["advised_down"])} 名，'
            f'建议下转、待核对 {_n(by["checks_outstanding"])} 名，留治 {_n(by["stay"])} 名。'
            f'另有 {_n(other)} 名不符合下转标准的住院患者被下转；按条款字面'
            f'（全部下转人数 ÷ 符合标准人数）为 {ratio}。<span class="en">Of those meeting the '
            f'criteria who were transferred down, the rules advised {_n(by["advised_down"])} '
            f'down, {_n(by["checks_outstanding"])} down with checks outstanding and '
            f'{_n(by["stay"])} to stay. A further {_n(other)} inpatients who met no '
            f"down-transfer criterion were transferred down; by the clause's literal ratio (all "
            f"down-transfers ÷ those meeting the criteria) the rate is {ratio}.</span></p>")
    clinic = t.get("outpatient_down")
    if clinic:
        parts.append(f'<p class="note">{_bi(clinic["note"])}</p>')
    parts.append(_cite(t["up_referral"]["citation"]))
    parts.append(f'<p class="note">{_bi(t["up_referral"]["note"])}</p>')
    return "".join(parts)


def _inpatients(ip: dict[str, Any]) -> str:
    if not ip.get("available"):
        return ('<p class="note">输入中没有 <code>visit_type</code> 列，无法识别住院患者。'
                '<span class="en">The input has no <code>visit_type</code> column, so '
                'inpatients cannot be identified.</span></p>')
    if not ip["rows"]:
        return _no_data({"zh": "没有二、三级医院的住院患者", "en": "there are no inpatients at "
                         "secondary or tertiary level"})
    rows = [*ip["by_level"], *(r for r in ip["by_condition"] if r["rows"])]
    fig = go.Figure()
    x = [_tick(r["label"]) for r in rows]
    for key, lab in ADVICE.items():  # stacked: each bar is the share meeting a down criterion
        fig.add_bar(name=_plain(lab), x=x, y=[r[f"{key}_share"] for r in rows],
                    marker_color=COLOURS.get(key, "#7f8c8d"))
    fig.update_layout(barmode="stack", yaxis={
        **_rate_axis([r["met_share"] for r in rows], []), "title": "占住院患者 Of inpatients"})
    head = ["分组 Group", "住院患者 Inpatients", _bi(MET), "比例 Share",
            *(_bi(lab) for lab in ADVICE.values()), "其中上转 Of which up"]

    def line(lab: dict[str, str], r: dict[str, Any]) -> list[str]:
        return [_bi(lab), _n(r["rows"]), _n(r["met"]), _pct(r["met_share"]),
                *(f'{_n(r[k])} ({_pct(r[f"{k}_share"])})' for k in ADVICE), _n(r["stay_up"])]

    body = [line({"zh": "合计", "en": "All"}, ip)] + [line(r["label"], r) for r in rows]
    note = (f'<p class="note">住院患者指二、三级医院 visit_type = inpatient 的患者；基层住院患者 '
            f'{_n(ip["inpatients_at_primary"])} 名不计入（基层无法再下转）。“符合下转标准”：'
            f'某病种的下转标准按已记录的信息成立。其中“建议下转”无待核对事项；“建议下转，待核对”'
            f'附有转出前须逐项确认的未记录情况；“留治”为已记录的情况阻止下转（留治标准）或符合'
            f'上转标准（表中另列其中上转人数）。括号内为占住院患者的比例；三项之和等于符合下转标准'
            f'人数。<span class="en">Inpatients are patients with visit_type = inpatient at '
            f'secondary or tertiary level; {_n(ip["inpatients_at_primary"])} inpatients at '
            f'primary level are left out (there is no lower level). "Meet a down-transfer '
            f'criterion": a condition\'s down criterion holds on the recorded facts. Of those, '
            f'"advised down" has nothing to confirm; "advised down, checks outstanding" comes with '
            f'a checklist of unrecorded facts to confirm before the patient leaves; "stay" is held '
            f'by a recorded blocker (a stay criterion) or by an up criterion (the last column '
            f'counts those advised up). Shares in brackets are of the inpatients; the three add up '
            f'to those meeting a criterion.</span></p>')
    return _chart(fig, "chart-inpatients") + _table(head, body, numeric=6) + note


def _possible(p: dict[str, Any]) -> str:
    by = p["by_direction"]
    head = (f'<p>有可能的急危重症（未记录的信息使急危重症标准无法排除）的行：{_n(p["rows"])}'
            f'（占已评估 {_pct(p["share"])}；其中建议上转 {_n(by["up"])}、下转 {_n(by["down"])}、'
            f'留治 {_n(by["stay"])}）。<span class="en"> — rows with a possible emergency (an '
            f'emergency criterion that unrecorded facts leave open): {_n(p["rows"])} '
            f'({_pct(p["share"])} of evaluated; advised up {_n(by["up"])}, down '
            f'{_n(by["down"])}, stay {_n(by["stay"])}).</span></p>')
    if not p["top_rules"]:
        return head
    body = [[f'<code>{_e(r["rule"])}</code>', _bi(r["title"], "<br>"), _n(r["rows"]),
             _pct(r["share"])] for r in p["top_rules"]]
    return head + _table(["规则 Rule", "标题 Title", "行数 Rows", "占已评估 Of evaluated"], body,
                         numeric=2)


def _bars(labels: list[str], values: list[int], div_id: str, hover: list[str]) -> str:
    if not values:
        return _no_data({"zh": "没有已评估的行", "en": "no row was evaluated"})
    fig = go.Figure()
    fig.add_bar(x=values[::-1], y=labels[::-1], orientation="h", marker_color="#5d6d7e",
                hovertext=hover[::-1], text=[_n(v) for v in values[::-1]],
                textposition="outside", cliponaxis=False)
    fig.update_layout(xaxis_title="行数 Rows", showlegend=False)
    return _chart(fig, div_id, height=max(300, 28 * len(labels) + 100), left=420)


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _criteria(items: list[dict[str, Any]]) -> str:
    labels = [f'{r["rule"]} {_short(r["title"]["zh"]) if r["title"] else ""}' for r in items]
    hover = [r["title"]["en"] if r["title"] else r["rule"] for r in items]
    body = [[f'<code>{_e(r["rule"])}</code>', _e(r["criterion"] or ""),
             _bi(DIRECTIONS.get(r["direction"] or "", None)), _bi(r["title"], "<br>"),
             _n(r["rows"]), _pct(r["share"])] for r in items]
    head = ["规则 Rule", "标准 Criterion", "方向 Direction", "标题 Title", "行数 Rows",
            "占已评估 Of evaluated"]
    return (_bars(labels, [r["rows"] for r in items], "chart-criteria", hover)
            + _table(head, body, numeric=2))


def _missing(items: list[dict[str, Any]]) -> str:
    labels = [f'{r["fact"]} {_short(r["label"]["zh"], 20) if r["label"] else ""}' for r in items]
    hover = [r["label"]["en"] if r["label"] else r["fact"] for r in items]
    body = [[f'<code>{_e(r["fact"])}</code>', _bi(r["label"], "<br>"), _n(r["rows"]),
             _pct(r["share"])] for r in items]
    head = ["事实 Fact", "含义 Meaning", "行数 Rows", "占已评估 Of evaluated"]
    return (_bars(labels, [r["rows"] for r in items], "chart-missing", hover)
            + _table(head, body, numeric=2))


def _failures(f: dict[str, Any]) -> str:
    codes = _table(["代码 Code", "含义 Meaning", "行数 Rows"],
                   [[f'<code>{_e(c["code"])}</code>', _bi(c["label"]), _n(c["rows"])]
                    for c in f["codes"]], numeric=1)
    facts = _table(["事实 Fact", "代码 Code", "含义 Meaning", "行数 Rows"],
                   [[f'<code>{_e(c["fact"])}</code>', f'<code>{_e(c["code"])}</code>',
                     _bi(c["label"]), _n(c["rows"])] for c in f["facts"]], numeric=1)
    return (f'<p>校验未通过的行：{_n(f["rows"])}<span class="en"> — rows that failed '
            f'validation: {_n(f["rows"])}</span></p>{codes}{facts}')


def _source(data: dict[str, Any]) -> str:
    src, rows = data["source"], data["rows"]
    meta = _table(["项目 Item", "值 Value"], [
        ["输入 Input", _e(src["input"] or "—")], ["后端 Backend", _e(src["backend"] or "—")],
        ["版本 referral-rules version", _e(src["version"] or "—")],
        ["总行数 Rows", _n(rows["total"])], ["已评估 Evaluated (ok)", _n(rows["ok"])],
        ["校验未通过 Failed validation", _n(rows["failed"])],
        ["完整 Complete", _n(rows["complete"])], ["不完整 Incomplete", _n(rows["incomplete"])],
    ])
    rulesets = _table(["规则集 Ruleset", "版本 Version", "sha256"],
                      [[_e(r["id"]), _e(r["version"]), f'<code>{_e(r["sha256"])}</code>']
                       for r in src["rulesets"]]) if src["rulesets"] else \
        ('<p class="note">输出中未记录规则集。<span class="en">No rulesets recorded in the '
         'output.</span></p>')
    warn = _input_problems(src)
    if src["labels_from_same_rulesets"] is False:
        warn = ('<p class="warn">本报告的标题和标签来自与批处理不同版本的规则集。'
                '<span class="en">Titles and labels come from rulesets other than those the '
                'batch used.</span></p>')
    if src["rows_match_metadata"] is False:
        warn += ('<p class="warn">行数与输出元数据不一致。<span class="en">The row count does not '
                 'match the output metadata.</span></p>')
    return meta + warn + rulesets


def _input_problems(src: dict[str, Any]) -> str:
    """Input columns the batch did not read (with what each was likely meant as), and the
    ``actual_transfer`` values it understood or not."""
    out = ""
    cols = src.get("unknown_columns") or []
    if cols:
        rows = [[f"<code>{_e(c['column'])}</code>",
                 _e(f"did you mean {c['suggestion']}?") if c["suggestion"] else "—"]
                for c in cols]
        cls = "warn" if any(c["suggestion"] for c in cols) else "note"
        out += (f'<p class="{cls}">输入中未读取的列（不是事实名，也未在列映射中）：'
                f'{len(cols)} 列。<span class="en">Input columns not read (not a fact name and '
                f'not in the column mapping): {len(cols)}.</span></p>'
                + _table(["列 Column", "可能是 Likely meant as"], rows))
    t = src.get("actual_transfer")
    if t:
        shown = "，".join(f"“{_e(u['value'])}” {_n(u['rows'])}" for u in t["unknown_values"])
        counts = _table(["实际转诊 actual_transfer", "行数 Rows"], [
            [_bi(DIRECTIONS["up"]), _n(t["up"])], [_bi(DIRECTIONS["down"]), _n(t["down"])],
            [_bi({"zh": "未转", "en": "None"}), _n(t["none"])],
            [_bi({"zh": "空白", "en": "Blank"}), _n(t["blank"])],
            [_bi({"zh": "无法识别", "en": "Not understood"}), _n(t["unknown_rows"])]],
            numeric=1)
        out += counts
        if t["unknown_rows"]:
            more = f" (+{t['unknown_other_values']})" if t["unknown_other_values"] else ""
            out += (f'<p class="warn">{_n(t["unknown_rows"])} 行的实际转诊取值无法识别：{shown}'
                    f'{more}。这些行按“未记录”处理，在实际转诊率中计为未转诊；请在列映射文件的 '
                    f'<code>values:</code> 中说明其含义。<span class="en">{_n(t["unknown_rows"])}'
                    f' rows have an actual_transfer value that means nothing known ({shown}'
                    f'{more}); they are taken as not recorded, which counts as not transferred '
                    f'in the actual rates. Say what they mean under <code>values:</code> in the '
                    f'column mapping.</span></p>')
    return out


def render(data: dict[str, Any]) -> str:
    """The page for ``Report.to_dict()`` data."""
    disclaimer = f'<p class="disclaimer">{_bi(data["disclaimer"], "<br>")}</p>'
    direction = _table(["方向 Direction", "行数 Rows", "占总行数 Share"],
                       [[_bi(r["label"]), _n(r["rows"]), _pct(r["share"])]
                        for r in data["direction"]], numeric=2)
    urgency = _table(["紧急程度 Urgency", "行数 Rows", "占上转 Of up"],
                     [[_bi(r["label"]), _n(r["rows"]), _pct(r["share_of_up"])]
                      for r in data["urgency"]], numeric=2)
    setting = _crosstab_table(data["by_setting"], "场景 Setting")
    sections = [
        ("数据与规则集", "Data and rulesets", _source(data)),
        ("转诊方向", "Direction", direction + urgency + setting),
        ("指标与目标（林口县实施方案）", "Indicators against the targets (Linkou County plan)",
         _targets(data["targets"])),
        ("符合下转标准的住院患者及建议",
         "Inpatients meeting a down-transfer criterion, and the advice",
         _inpatients(data["inpatients"])),
        ("按病种的转诊方向", "Direction by condition",
         _stacked(data["by_condition"], "chart-condition")
         + _crosstab_table(data["by_condition"], "病种 Condition")
         + '<p class="note">多病种患者在每个病种下各计一次。<span class="en">A patient with '
           'several conditions counts once under each.</span></p>'),
        ("按医疗机构级别的转诊方向", "Direction by care level",
         _stacked(data["by_level"], "chart-level")
         + _crosstab_table(data["by_level"], "级别 Level")),
        ("最常满足的标准", "Criteria met most often", _criteria(data["top_criteria"])),
        ("导致结论不完整的缺失信息", "Missing facts that leave decisions incomplete",
         _missing(data["top_missing_facts"])),
        ("可能的急危重症", "Possible emergencies", _possible(data["possible_emergencies"])),
        ("校验未通过", "Validation failures", _failures(data["failures"])),
    ]
    body = "".join(f"<h2>{_e(zh)} <span class=\"en\">{_e(en)}</span></h2>{content}"
                   for zh, en, content in sections)
    title = _plain(data["title"])
    return (f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n"
            f'<script type="text/javascript">{get_plotlyjs()}</script>\n</head>\n<body>\n'
            f'<h1>{_bi(data["title"], "<br>")}</h1>\n{disclaimer}\n{body}\n'
            f'<p class="note">{_e(data["format"])}</p>\n'
            f"{disclaimer}\n</body>\n</html>\n")
