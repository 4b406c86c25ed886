/* referral-rules workbench.
 *
 * The page adds no rule logic: every decision, presentation (zh/en wording), case result,
 * case snippet, ruleset view, lint finding and draft problem comes from the service's API
 * (/v1/workbench/…), which reads it from the library. This file only renders those answers,
 * keeps the form's values, and compares one answer with the previous one to show what changed.
 * Nothing is loaded from any other host.
 */
"use strict";

(function () {
  const ROOT = document.body.dataset.root || "";
  const API = ROOT + "/v1/workbench";
  const DEBOUNCE_MS = 250;
  const DRAFT_DEBOUNCE_MS = 450;

  // --- words of the page itself (the decision's wording comes from the library) --------------
  const T = {
    zh: {
      skip: "跳到主要内容", title: "转诊规则工作台",
      subtitle: "试用规则、查看依据、把患者保存为测试用例", views: "视图",
      nav_try: "试算患者", nav_cases: "测试用例", nav_rules: "规则", nav_draft: "草稿检查",
      footer: "决策支持，不是医嘱：是否转诊、转往何处及紧急程度由接诊医师决定。工作台的评估不保存、不审计。",
      rules_dir: "规则目录", versions: "规则版本",
      h_try: "试算患者", h_form: "患者信息", h_decision: "转诊建议",
      find: "查找信息项", find_ph: "名称或说明，如 sbp、收缩压",
      modes: "评估哪些规则集", mode_all: "全部规则集，各按其适用范围（与 HIS 调用相同）",
      mode_some: "仅以下规则集（不论适用范围，全部规则运行）",
      clear: "清空", expand: "全部展开", collapse: "全部收起", recorded_n: "已记录 {n} 项",
      not_recorded: "未记录", yes: "是", no: "否", range: "范围",
      used_by: "{n} 条规则使用", used_by_none: "无规则直接使用", used_by_policy: "转诊政策使用",
      derived: "推出", derived_hint: "未记录时由 {from} 推出（记录值优先）",
      how_derived: "如何推出", derived_now: "推出值：{v}（依据 {from}）",
      sec_policy: "转诊政策与患者", sec_scope: "适用范围（applies_to）：{s}",
      sec_criteria: "标准用到的信息", sec_other: "其他信息", shared: "同时使用（见上方）：",
      scope_applies: "适用", scope_unknown: "范围未知：仅计入已证实的急症",
      scope_not_applicable: "不适用", scope_requested: "指定评估",
      evaluating: "评估中…", start: "填写左侧信息，建议会随之更新。",
      changed: "与上次修改相比：", unchanged: "建议未变。", first: "",
      ch_direction: "建议", ch_urgency: "紧急程度", ch_target: "转往级别",
      ch_destination: "去向", ch_refusal: "拒绝转诊", ch_complete: "信息完整",
      ch_fired: "满足的标准", ch_records: "资料", ch_confirm: "转出前确认",
      ch_possible: "可能的急危重症", added: "新增", removed: "不再",
      invalid: "以下信息有误（已在左侧标出），建议未更新：", conditions_err: "规则集有误：",
      target: "转往级别", none: "无", matched: "匹配的信息", source: "依据",
      where: "YAML 位置", open_rule: "在规则视图中查看", check_now: "请核实",
      undetermined: "未定的规则：记录以下信息即可判断", decide_by: "由以下信息决定：",
      record_it: "去填写", or_record: "或记录", effect: {
        emergency: "可能为急诊", up: "可能需上转", urgency: "可能改变紧急程度",
        stay: "可能需留治", target: "可能改变转往级别" },
      later: "可在转诊后补办", required_by: "要求来源", rule_note: "说明",
      save_h: "保存为测试用例", case_name: "用例名称", case_name_ph: "例如：初诊 182/96 → 常规上转",
      case_criterion: "标准编号（可选）", make_case: "生成用例",
      case_help: "用例的 expect 取自当前建议。粘贴到任一规则文件或 cross_condition.yaml 的 cases: 下，再运行 referral-rules test。",
      verified: "已验证：用例按规则库的方式读回并运行，通过。",
      not_verified: "未通过验证：", yaml_label: "用例 YAML", copy: "复制", copied: "已复制",
      download: "下载", loaded: "已载入用例：", case_result: "该用例在当前规则下：",
      h_cases: "测试用例", file: "文件", run_file: "运行此文件的用例", run_all: "运行全部用例",
      filter: "筛选", filter_ph: "名称或标准编号", result: "结果", name: "名称",
      criterion: "标准", rulesets: "规则集", line: "行", actions: "操作", load: "载入表单",
      run: "运行", pass: "通过", fail: "失败", not_run: "—", key: "检查项",
      expected: "期望", actual: "实际", problems: "问题", all_rs: "全部（按适用范围）",
      own_rs: "本文件的规则集", running: "运行中…",
      run_summary: "{p} 通过，{f} 失败", coverage: "覆盖率 {pc}%（{r} 条规则，{d} 个推出片段，{t} 个阈值）",
      cases_n: "{n} 个用例",
      h_rules: "规则", ruleset: "规则集", flow: "流程图", flow_help: "每条规则（按文件顺序）及其结论。", flow_fit: "缩放到窗口",
      flow_fail: "流程图未能绘制，以下为其 Mermaid 源文本。", thresholds: "阈值与定义",
      rules_list: "规则", sources: "来源", not_encoded: "未编码的内容（及原因）", scope: "适用范围",
      specialty: "专科", condition: "条件", outcome: "结论", value: "值", note: "说明",
      lint_h: "静态检查（lint）", lint_loading: "检查中（需要几秒）…", lint_none: "没有发现问题。",
      lint_failed: "规则目录中的文件无法加载：", load_example: "把示例患者载入表单",
      example_dropped: "示例中的 {names} 不是可记录的信息（为计算值），未载入。",
      records: "附加资料", advice: "提示", thresholds_of: "阈值",
      h_draft: "草稿检查", draft_help: "粘贴或编辑一个规则文件，随输入检查（仅校验：在规则目录的临时副本中进行，不保存、不改变正在使用的规则；重新加载需管理员密钥）。",
      draft_file: "文件", draft_name: "文件名", new_file: "（新文件）", load_file: "载入磁盘上的文件",
      editor: "YAML 内容", checking: "检查中…", no_problems: "没有问题：{rs} 个规则集，{r} 条规则，{c} 个用例。",
      problems_n: "{n} 个问题", download_draft: "下载草稿", go_to: "定位到 {w}",
      error: "出错了：", direction_words: { up: "上转", down: "下转", stay: "不转诊" },
      urgency_words: { emergency: "紧急", urgent: "尽快（当日）", routine: "常规" },
      level_words: { primary: "基层", secondary: "二级", tertiary: "三级" },
    },
    en: {
      skip: "Skip to content", title: "Referral rules workbench",
      subtitle: "Try the rules, read why, turn a patient into a test case", views: "Views",
      nav_try: "Try a patient", nav_cases: "Test cases", nav_rules: "Rules",
      nav_draft: "Draft check",
      footer: "Decision support, not an order: the treating clinician decides whether, where and how urgently to transfer. The workbench's evaluations are not stored or audited.",
      rules_dir: "Rules directory", versions: "Rules used",
      h_try: "Try a patient", h_form: "Patient", h_decision: "Referral advice",
      find: "Find a fact", find_ph: "name or label, e.g. sbp",
      modes: "Rulesets to evaluate", mode_all: "All rulesets, each where its scope applies (as an HIS calls it)",
      mode_some: "Only these rulesets, in full (whatever their scope)",
      clear: "Clear", expand: "Expand all", collapse: "Collapse all", recorded_n: "{n} facts recorded",
      not_recorded: "not recorded", yes: "yes", no: "no", range: "range",
      used_by: "read by {n} rules", used_by_none: "no rule reads it directly",
      used_by_policy: "read by the referral policy",
      derived: "derived", derived_hint: "worked out from {from} when not recorded (a recorded value wins)",
      how_derived: "How it is derived", derived_now: "Derived: {v} (from {from})",
      sec_policy: "Referral policy and the patient", sec_scope: "Whom it applies to (applies_to): {s}",
      sec_criteria: "Facts its criteria read", sec_other: "Other facts", shared: "Also uses (shown above): ",
      scope_applies: "applies", scope_unknown: "scope unknown: only emergencies true on the record count",
      scope_not_applicable: "does not apply", scope_requested: "requested",
      evaluating: "Evaluating…", start: "Fill in the form: the advice follows every change.",
      changed: "Changed since the last edit: ", unchanged: "The advice did not change.", first: "",
      ch_direction: "advice", ch_urgency: "urgency", ch_target: "target level",
      ch_destination: "destination", ch_refusal: "refusal", ch_complete: "complete",
      ch_fired: "criteria met", ch_records: "records", ch_confirm: "confirm before transfer",
      ch_possible: "possible emergencies", added: "added", removed: "no longer",
      invalid: "Some facts are invalid (marked in the form); the advice was not updated:",
      conditions_err: "Rulesets:", target: "Target level", none: "none", matched: "Facts matched",
      source: "Source", where: "In the YAML", open_rule: "show in the Rules view",
      check_now: "check",
      undetermined: "Undetermined rules: recording these facts decides them",
      decide_by: "decided by:", record_it: "record it", or_record: "or record", effect: {
        emergency: "could be an emergency", up: "could need an up-transfer",
        urgency: "could change the urgency", stay: "could hold the patient",
        target: "could change the level" },
      later: "may follow later", required_by: "required by", rule_note: "Note",
      save_h: "Save as a test case", case_name: "Case name",
      case_name_ph: "e.g. first visit 182/96 → routine up-transfer",
      case_criterion: "Criterion (optional)", make_case: "Make the case",
      case_help: "The case's expect is today's advice. Paste it under cases: in any ruleset file or in cross_condition.yaml, then run referral-rules test.",
      verified: "Verified: read back as the library reads cases and run, it passes.",
      not_verified: "Not verified:", yaml_label: "Case YAML", copy: "Copy", copied: "Copied",
      download: "Download", loaded: "Loaded case: ", case_result: "This case on the current rules: ",
      h_cases: "Test cases", file: "File", run_file: "Run this file's cases", run_all: "Run all cases",
      filter: "Filter", filter_ph: "name or criterion", result: "Result", name: "Name",
      criterion: "Criterion", rulesets: "Rulesets", line: "Line", actions: "Actions",
      load: "Load into the form", run: "Run", pass: "pass", fail: "FAIL", not_run: "—",
      key: "Key", expected: "Expected", actual: "Actual", problems: "Problems",
      all_rs: "all (by scope)", own_rs: "this file's ruleset", running: "Running…",
      run_summary: "{p} passed, {f} failed", coverage: "coverage {pc}% ({r} rules, {d} derivation pieces, {t} thresholds)",
      cases_n: "{n} cases",
      h_rules: "Rules", ruleset: "Ruleset", flow: "Flow", flow_help: "Each rule (in file order) and the outcome it gives.", flow_fit: "Fit to the window",
      flow_fail: "The flowchart could not be drawn; its Mermaid source follows.",
      thresholds: "Thresholds and definitions", rules_list: "Rules", sources: "Sources",
      not_encoded: "Not encoded (and why)", scope: "Applies to", specialty: "Specialty",
      condition: "Condition", outcome: "Outcome", value: "Value", note: "Note",
      lint_h: "Lint", lint_loading: "Linting (takes a few seconds)…", lint_none: "No findings.",
      lint_failed: "The files in the rules directory do not load:",
      load_example: "Load the example patient into the form",
      example_dropped: "{names} in the example are computed values, not recorded facts: left out.",
      records: "Extra records", advice: "Advice", thresholds_of: "Thresholds",
      h_draft: "Draft check", draft_help: "Paste or edit a ruleset file and see its problems as you type (validation only: it runs in a temporary copy of the rules directory; nothing is saved and the served rules do not change; reloading needs the admin key).",
      draft_file: "File", draft_name: "File name", new_file: "(new file)", load_file: "Load the file from disk",
      editor: "YAML text", checking: "Checking…", no_problems: "No problems: {rs} rulesets, {r} rules, {c} cases.",
      problems_n: "{n} problem(s)", download_draft: "Download the draft", go_to: "go to {w}",
      error: "Something went wrong: ", direction_words: { up: "up", down: "down", stay: "stay" },
      urgency_words: { emergency: "emergency", urgent: "urgent", routine: "routine" },
      level_words: { primary: "primary", secondary: "secondary", tertiary: "tertiary" },
    },
  };

  const state = {
    lang: "zh", view: "try", form: null, facts: {}, mode: "all", some: [], filter: "",
    last: null, seq: 0, timer: null, abort: null, loadedCase: null,
    cases: null, results: {}, caseFile: null, rulesetId: null, rulesets: {}, lint: null,
    draftTimer: null, draftAbort: null, draftSeq: 0, mermaid: null, openGroups: {},
  };

  // --- helpers -------------------------------------------------------------------------------
  function t(key, vars) {
    let s = T[state.lang][key];
    if (s === undefined) s = T.en[key];
    if (typeof s !== "string") return s;
    for (const k in vars || {}) s = s.split("{" + k + "}").join(String(vars[k]));
    return s;
  }
  function L(text) { // a {zh, en} text in the page's language
    if (text === null || text === undefined) return "";
    if (typeof text === "string") return text;
    return text[state.lang] || text.en || text.zh || "";
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }
  function valueText(v) {
    if (v === true) return "true";
    if (v === false) return "false";
    return String(v);
  }
  function safeId(s) { return String(s).replace(/[^A-Za-z0-9_-]/g, "_"); }
  function fileLine(file, line) { return file + ":" + line; }

  async function api(path, body, signal) {
    const opts = { method: body === undefined ? "GET" : "POST", signal,
                   headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(API + path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data };
  }

  // --- language and navigation ---------------------------------------------------------------
  function setLang(lang, rerender) {
    state.lang = lang === "en" ? "en" : "zh";
    document.documentElement.lang = state.lang;
    try { localStorage.setItem("referral-rules-workbench-lang", state.lang); } catch (e) { /* private mode */ }
    $$("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    $$("[data-t-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.tLabel)); });
    $$(".lang button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)));
    document.title = t("title") + " · referral-rules";
    if (rerender) renderAll();
  }

  function route() {
    const hash = decodeURIComponent(location.hash.replace(/^#/, ""));
    const parts = hash.split("/");
    const view = ["try", "cases", "rules", "draft"].includes(parts[0]) ? parts[0] : "try";
    const changed = view !== state.view;
    state.view = view;
    $$(".view").forEach((v) => { v.hidden = v.dataset.view !== view; });
    $$("[data-nav]").forEach((a) => {
      if (a.dataset.nav === view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    if (view === "cases") showCases();
    if (view === "rules") showRules(parts[1], parts[2]);
    if (view === "draft") showDraft();
    if (changed && parts.length === 1) {
      const heading = $("#h-" + view);
      if (heading) heading.focus({ preventScroll: false });
    }
  }

  function renderAll() {
    renderTry();
    if (state.last) renderDecision(state.last, null);
    if (state.cases) renderCases();
    if (state.view === "rules") showRules(state.rulesetId);
    renderDraftChrome();
    renderVersions();
  }

  function renderVersions() {
    const el = $("#versions");
    if (!state.form) return;
    el.textContent = t("rules_dir") + ": " + state.form.directory + " · " + t("versions") + ": " +
      state.form.versions.map((v) => v.id + " " + v.version).join(", ");
  }

  // --- the form ------------------------------------------------------------------------------
  function factLabel(name) {
    const f = state.form && state.form.facts[name];
    return f ? L(f.label) : name;
  }

  function hintText(name, f) {
    const parts = [];
    if (f.range) parts.push(t("range") + " " + f.range[0] + "–" + f.range[1] + (f.unit ? " " + f.unit : ""));
    const policy = state.form.groups[0].sections[0].facts.includes(name);
    parts.push(f.used_by.length ? t("used_by", { n: f.used_by.length })
      : t(policy ? "used_by_policy" : "used_by_none"));
    if (f.derive) parts.push(t("derived_hint", { from: f.derive.from.join(", ") }));
    return parts.join(" · ");
  }

  function derivationDetails(f) {
    if (!f.derive) return null;
    return h("details", {},
      h("summary", { text: t("how_derived") }),
      h("ol", {}, f.derive.pieces.map((p) => h("li", {},
        h("code", { text: p.when }), " → ",
        h("code", { text: p.compute !== null ? p.compute : valueText(p.value) }),
        p.citations.map((c) => h("div", { class: "cite" }, c.source + " " + c.title + " " + c.clause,
          c.quote ? h("blockquote", { class: "quote", text: c.quote }) : null)),
        p.convention ? h("div", { class: "cite", text: L(p.convention) }) : null))));
  }

  function renderField(name) {
    const f = state.form.facts[name];
    const id = "f-" + name;
    const hintId = "h-" + name, errId = "e-" + name, derId = "d-" + name;
    const described = hintId + " " + errId + " " + derId;
    const code = h("code", { text: name });
    const badge = f.derive ? h("span", { class: "badge", text: t("derived") }) : null;
    const value = state.facts[name];
    let wrap;
    if (f.type === "boolean") {
      const group = h("span", { class: "tri" });
      for (const [val, word] of [["true", t("yes")], ["false", t("no")], ["", t("not_recorded")]]) {
        const rid = id + "-" + (val === "true" ? "yes" : val === "false" ? "no" : "unset");
        const checked = val === "" ? value === undefined : String(value) === val;
        group.append(h("label", { for: rid },
          h("input", { type: "radio", id: rid, name: "fact-" + name, value: val, checked,
                       "aria-describedby": described, dataset: { fact: name } }), word));
      }
      wrap = h("fieldset", { class: "field", id: "field-" + name, dataset: { fact: name } },
        h("legend", {}, L(f.label), " ", code, " ", badge), group);
    } else if (f.type === "enum") {
      const select = h("select", { id, "aria-describedby": described, dataset: { fact: name } });
      if (!f.required) select.append(h("option", { value: "", text: "— " + t("not_recorded") + " —" }));
      for (const v of f.values) select.append(h("option", { value: v, text: v, selected: value === v }));
      if (value === undefined && !f.required) select.value = "";
      wrap = h("div", { class: "field", id: "field-" + name, dataset: { fact: name } },
        h("label", { for: id }, L(f.label), " ", code, " ", badge), h("div", { class: "control" }, select));
    } else {
      const input = h("input", { type: "text", id, inputmode: f.type === "integer" ? "numeric" : "decimal",
        autocomplete: "off", spellcheck: "false", "aria-describedby": described,
        value: value === undefined ? "" : String(value), dataset: { fact: name } });
      wrap = h("div", { class: "field", id: "field-" + name, dataset: { fact: name } },
        h("label", { for: id }, L(f.label), " ", code, " ", badge),
        h("div", { class: "control" }, input, f.unit ? h("span", { class: "unit", text: f.unit }) : null));
    }
    wrap.append(h("p", { class: "hint", id: hintId, text: hintText(name, f) }),
      h("p", { class: "derived-now", id: derId, hidden: true }),
      h("p", { class: "error", id: errId, hidden: true }));
    const details = derivationDetails(f);
    if (details) wrap.append(details);
    if (value !== undefined) wrap.classList.add("recorded");
    return wrap;
  }

  function modeFieldset() {
    const fs = h("fieldset", { class: "modes" }, h("legend", { text: t("modes") }));
    const all = h("input", { type: "radio", name: "mode", id: "mode-all", value: "all", checked: state.mode === "all" });
    const some = h("input", { type: "radio", name: "mode", id: "mode-some", value: "some", checked: state.mode === "some" });
    fs.append(h("div", {}, all, " ", h("label", { for: "mode-all", text: t("mode_all") })),
      h("div", {}, some, " ", h("label", { for: "mode-some", text: t("mode_some") })));
    const boxes = h("div", { class: "some" });
    for (const rs of state.form.rulesets) {
      const cid = "cond-" + rs.id;
      boxes.append(h("span", {}, h("input", { type: "checkbox", id: cid, value: rs.id,
        checked: state.some.includes(rs.id), dataset: { condition: rs.id } }), " ",
        h("label", { for: cid, text: L(rs.title) })));
    }
    fs.append(boxes);
    fs.addEventListener("change", (ev) => {
      const el = ev.target;
      if (el.name === "mode") state.mode = el.value;
      if (el.dataset.condition) {
        state.some = $$("input[data-condition]", fs).filter((b) => b.checked).map((b) => b.value);
        if (state.some.length) { state.mode = "some"; $("#mode-some").checked = true; }
      }
      schedule();
    });
    return fs;
  }

  function renderTry() {
    const view = $("#view-try");
    if (!state.form) return;
    const openNow = {};
    $$("details.group", view).forEach((d) => { openNow[d.dataset.group] = d.open; });
    Object.assign(state.openGroups, openNow);
    clear(view);
    view.append(h("h2", { id: "h-try", tabindex: "-1", text: t("h_try") }));
    const form = h("form", { id: "patient-form", "aria-labelledby": "h-form", novalidate: true,
                             onsubmit: (e) => e.preventDefault() });
    form.append(h("h3", { id: "h-form", class: "visually-hidden", text: t("h_form") }));
    const tools = h("div", { class: "toolbar" },
      h("label", { for: "fact-filter", text: t("find") }),
      h("input", { type: "search", id: "fact-filter", placeholder: t("find_ph"), value: state.filter,
                   oninput: (e) => { state.filter = e.target.value; applyFilter(); } }),
      h("button", { type: "button", id: "clear-form", text: t("clear"), onclick: clearForm }),
      h("button", { type: "button", text: t("expand"), onclick: () => toggleGroups(true) }),
      h("button", { type: "button", text: t("collapse"), onclick: () => toggleGroups(false) }),
      h("span", { id: "recorded-count", class: "muted small" }));
    form.append(tools, modeFieldset());
    for (const g of state.form.groups) {
      const open = state.openGroups[g.id] !== undefined ? state.openGroups[g.id] : true;
      const det = h("details", { class: "group", open, dataset: { group: g.id }, id: "group-" + g.id });
      const summary = h("summary", {}, h("h3", { text: L(g.title) }));
      if (g.ruleset) {
        summary.append(h("span", { class: "badge scope-badge", id: "scope-" + g.ruleset, hidden: true }));
      }
      det.append(summary);
      const body = h("div", { class: "body" });
      for (const sec of g.sections) {
        if (!sec.facts.length) continue;
        let title = t("sec_" + sec.kind);
        if (sec.kind === "scope") title = t("sec_scope", { s: g.scope });
        if (sec.kind !== "policy") body.append(h("p", { class: "section-title", text: title }));
        body.append(h("div", { class: "fields" }, sec.facts.map(renderField)));
      }
      if (g.shared.length) {
        body.append(h("p", { class: "shared" }, t("shared"),
          g.shared.map((name) => h("a", { href: "#try", "data-goto": name, title: factLabel(name),
            onclick: (e) => { e.preventDefault(); focusFact(name); } }, name))));
      }
      det.append(body);
      form.append(det);
    }
    const layout = h("div", { class: "try-layout" },
      form,
      h("div", { class: "decision-col" },
        h("section", { "aria-labelledby": "h-decision" },
          h("h2", { id: "h-decision", text: t("h_decision") }),
          h("div", { id: "loaded-case" }),
          h("div", { id: "changes", role: "status", "aria-live": "polite" }),
          h("div", { id: "decision", class: "decision-card" }, h("p", { class: "muted", text: t("start") }))),
        saveCaseSection()));
    view.append(layout);
    form.addEventListener("input", onFormInput);
    form.addEventListener("change", onFormInput);
    applyFilter();
    updateRecordedCount();
    renderLoadedCase();
  }

  function toggleGroups(open) {
    $$("details.group").forEach((d) => { d.open = open; state.openGroups[d.dataset.group] = open; });
  }

  function applyFilter() {
    const q = state.filter.trim().toLowerCase();
    $$("#patient-form .field").forEach((el) => {
      const name = el.dataset.fact;
      const f = state.form.facts[name];
      const hit = !q || name.toLowerCase().includes(q) || f.label.zh.toLowerCase().includes(q) ||
        f.label.en.toLowerCase().includes(q);
      el.hidden = !hit;
    });
    $$("details.group").forEach((d) => {
      const any = $$(".field", d).some((f) => !f.hidden);
      d.hidden = Boolean(q) && !any;
      if (q && any) d.open = true;
    });
  }

  function readInput(el) {
    const name = el.dataset.fact;
    const f = state.form.facts[name];
    if (f.type === "boolean") {
      const checked = $$('input[name="fact-' + name + '"]').find((r) => r.checked);
      const v = checked ? checked.value : "";
      return v === "" ? undefined : v === "true";
    }
    const raw = el.value.trim();
    if (raw === "") return undefined;
    if (f.type === "number" || f.type === "integer") {
      // a well-formed number is sent as a number; anything else is sent as typed, and the
      // library says what is wrong with it (never a silent "not recorded")
      return /^[-+]?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    }
    return raw;
  }

  function onFormInput(ev) {
    const el = ev.target;
    if (!el.dataset || !el.dataset.fact) return;
    const name = el.dataset.fact;
    const v = readInput(el);
    if (v === undefined) delete state.facts[name]; else state.facts[name] = v;
    const field = $("#field-" + name);
    if (field) field.classList.toggle("recorded", v !== undefined);
    updateRecordedCount();
    schedule();
  }

  function updateRecordedCount() {
    const el = $("#recorded-count");
    if (el) el.textContent = t("recorded_n", { n: Object.keys(state.facts).length });
  }

  function setFacts(facts) {
    state.facts = {};
    for (const [k, v] of Object.entries(facts)) {
      if (v !== null && v !== undefined) state.facts[k] = v;
    }
    renderTry();
  }

  function defaultFacts() {
    const out = {};
    for (const [name, f] of Object.entries(state.form.facts)) {
      if (f.required && f.type === "enum") out[name] = f.values[0];
    }
    return out;
  }

  function clearForm() {
    state.loadedCase = null;
    setFacts(defaultFacts());
    schedule();
  }

  function focusFact(name) {
    if (state.view !== "try") location.hash = "#try";
    const field = $("#field-" + name);
    if (!field) return;
    const group = field.closest("details");
    if (group) group.open = true;
    if (field.hidden) { state.filter = ""; const ff = $("#fact-filter"); if (ff) ff.value = ""; applyFilter(); }
    field.scrollIntoView({ block: "center" });
    const input = $("input:checked", field) || $("input, select", field);
    if (input) input.focus();
    field.classList.add("hl");
    setTimeout(() => field.classList.remove("hl"), 1600);
  }

  // --- evaluation ----------------------------------------------------------------------------
  function conditions() {
    return state.mode === "some" && state.some.length ? state.some.slice() : null;
  }

  function schedule() {
    clearTimeout(state.timer);
    const card = $("#decision");
    if (card) card.classList.add("stale");
    state.timer = setTimeout(evaluate, DEBOUNCE_MS);
  }

  async function evaluate() {
    const seq = ++state.seq;
    if (state.abort) state.abort.abort();
    state.abort = new AbortController();
    let res;
    try {
      res = await api("/evaluate", { facts: state.facts, conditions: conditions(), lang: state.lang },
                      state.abort.signal);
    } catch (e) {
      if (e.name === "AbortError") return;
      showProblem(t("error") + e.message, []);
      return;
    }
    if (seq !== state.seq) return; // a later edit is on its way
    markErrors(res.ok ? [] : ((res.data && res.data.issues) || []));
    if (!res.ok) {
      const issues = (res.data && res.data.issues) || [];
      showProblem((res.data && res.data.message) || (t("error") + res.status), issues);
      return;
    }
    const previous = state.last;
    state.last = res.data;
    renderDecision(res.data, previous);
  }

  function markErrors(issues) {
    $$("#patient-form .field.has-error").forEach((f) => f.classList.remove("has-error"));
    $$("#patient-form .field .error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    for (const issue of issues) {
      const field = issue.fact && $("#field-" + issue.fact);
      if (!field) continue;
      field.classList.add("has-error");
      const p = $("#e-" + issue.fact);
      p.hidden = false;
      p.textContent = issue.message + (issue.suggestion ? " (" + issue.suggestion + ")" : "");
    }
  }

  function showProblem(message, issues) {
    const card = $("#decision");
    const box = h("div", { class: "problem-box", role: "alert" },
      h("p", { text: issues.length && issues[0].fact ? t("invalid") : message }),
      issues.length ? h("ul", {}, issues.map((i) => h("li", {},
        i.fact && state.form.facts[i.fact] ? h("a", { href: "#try", onclick: (e) => { e.preventDefault(); focusFact(i.fact); } }, i.fact) : (i.fact || i.path),
        ": " + i.message + (i.suggestion ? " (" + i.suggestion + ")" : "")))) : null);
    const old = $(".problem-box", card);
    if (old) old.remove();
    card.prepend(box);
  }

  // what changed between two answers: compared key by key, shown and highlighted
  function diffDecisions(prev, cur) {
    if (!prev) return null;
    const a = prev.decision, b = cur.decision, P = prev.presentation, C = cur.presentation;
    const out = [];
    const scalar = (key, x, y, shownX, shownY) => {
      if (x !== y) out.push({ key, text: t("ch_" + key) + ": " + (shownX || t("none")) + " → " + (shownY || t("none")) });
    };
    const words = (k, v) => (v ? (t(k)[v] || v) : "");
    scalar("direction", a.direction, b.direction, P.headline, C.headline);
    scalar("urgency", a.urgency, b.urgency, words("urgency_words", a.urgency), words("urgency_words", b.urgency));
    scalar("target", a.target_level, b.target_level, words("level_words", a.target_level), words("level_words", b.target_level));
    scalar("destination", a.destination && a.destination.kind, b.destination && b.destination.kind,
      a.destination && L(a.destination.text), b.destination && L(b.destination.text));
    scalar("refusal", a.refusal.status, b.refusal.status, a.refusal.status, b.refusal.status);
    scalar("complete", a.complete, b.complete, t(a.complete ? "yes" : "no"), t(b.complete ? "yes" : "no"));
    const sets = [
      ["fired", a.fired.map((r) => r.id), b.fired.map((r) => r.id)],
      ["records", a.records.map((r) => r.id), b.records.map((r) => r.id)],
      ["confirm", a.confirm_before_transfer.map((m) => m.fact), b.confirm_before_transfer.map((m) => m.fact)],
      ["possible", a.possible_emergencies.map((p) => p.rule), b.possible_emergencies.map((p) => p.rule)],
    ];
    const added = {};
    for (const [key, x, y] of sets) {
      const plus = y.filter((i) => !x.includes(i)), minus = x.filter((i) => !y.includes(i));
      added[key] = plus;
      if (plus.length || minus.length) {
        out.push({ key, text: t("ch_" + key) + ": " +
          (plus.length ? t("added") + " " + plus.join(", ") : "") +
          (plus.length && minus.length ? "; " : "") +
          (minus.length ? t("removed") + " " + minus.join(", ") : "") });
      }
    }
    return { items: out, added };
  }

  function section(key, title, ...content) {
    return h("section", { class: "dsec", dataset: { section: key } }, h("h3", { text: title }), content);
  }

  function factLink(name, text) {
    if (!state.form.facts[name]) return h("code", { text: name });
    return h("a", { href: "#try", dataset: { fact: name }, title: t("record_it"),
      onclick: (e) => { e.preventDefault(); focusFact(name); } }, text || factLabel(name));
  }

  function ruleWhere(id, rules) {
    const r = rules[id];
    if (!r) return null;
    return h("a", { class: "where", href: "#rules/" + r.ruleset + "/" + id, title: t("open_rule") },
      fileLine(r.file, r.line));
  }

  function citationBlock(c) {
    return h("div", { class: "cite" },
      h("span", {}, t("source") + ": "),
      c.url ? h("a", { href: c.url, rel: "noreferrer noopener", target: "_blank" }, c.title) : h("span", { text: c.title }),
      " · " + c.clause,
      c.quote ? h("blockquote", { class: "quote", lang: /[\u4e00-\u9fff]/.test(c.quote) ? "zh" : "en", text: c.quote }) : null);
  }

  function renderDecision(data, previous) {
    const d = data.decision, p = data.presentation, rules = data.rules;
    const diff = diffDecisions(previous, data);
    const sec = {};
    for (const s of p.sections) sec[s.key] = s;
    const card = clear($("#decision"));
    card.classList.remove("stale");
    // possible emergencies first, never buried
    if (d.possible_emergencies.length) {
      const s = sec.possible_emergencies;
      card.append(h("div", { class: "emergency-box", dataset: { section: "possible_emergencies" } },
        h("h3", { text: s ? s.title : "" }),
        h("ul", {}, d.possible_emergencies.map((pe, i) => h("li", { dataset: { rule: pe.rule },
          class: diff && diff.added.possible.includes(pe.rule) ? "changed" : null },
          h("strong", { text: L(pe.title) }), " ", h("code", { text: pe.rule }), " ", ruleWhere(pe.rule, rules),
          h("div", {}, t("check_now") + ": ", pe.check.map((c, j) => [j ? ", " : "", factLink(c.fact, L(c.label))])),
          pe.citations.length ? h("details", { class: "small" }, h("summary", { text: t("source") }),
            pe.citations.map(citationBlock)) : null)))));
    }
    const head = h("p", { class: "headline", id: "headline", dataset: { direction: d.direction, urgency: d.urgency || "" },
      text: p.headline });
    if (diff && diff.items.some((i) => ["direction", "target"].includes(i.key))) head.classList.add("changed");
    card.append(head);
    const dl = h("dl", { class: "facts" });
    for (const [label, value] of p.facts) {
      const changed = diff && diff.items.some((i) => (i.key === "urgency" && label === p.facts[0][0] && d.direction === "up") || (i.key === "destination" && value === (d.destination && L(d.destination.text))));
      dl.append(h("dt", { text: label }), h("dd", { text: value, class: changed ? "changed" : null }));
    }
    if (d.target_level) dl.append(h("dt", { text: t("target") }), h("dd", { text: t("level_words")[d.target_level] + " (" + d.target_level + ")" }));
    card.append(dl);
    if (d.confirm_before_transfer.length && sec.confirm) {
      card.append(h("div", { class: "confirm-box" }, section("confirm", sec.confirm.title, h("ul", {}, d.confirm_before_transfer.map((m) =>
        h("li", { class: diff && diff.added.confirm.includes(m.fact) ? "changed" : null },
          factLink(m.fact, L(m.label)), " ", h("span", { class: "effect", text: t("effect")[m.effect] }),
          " ", h("span", { class: "small muted", text: "(" + m.needed_by.join(", ") + ")" }),
          m.derivable_from.length ? h("span", { class: "small" }, " · " + t("or_record") + " ",
            m.derivable_from.map((f, j) => [j ? ", " : "", factLink(f, f)])) : null))))));
    }
    if (d.fired.length && sec.why) {
      card.append(section("why", sec.why.title, d.fired.map((r) => {
        const info = rules[r.id] || {};
        return h("article", { class: "rule-card" + (diff && diff.added.fired.includes(r.id) ? " changed" : ""),
          dataset: { rule: r.id, direction: r.direction } },
          h("div", {}, h("span", { class: "title", text: L(r.title) }), " ", h("code", { text: r.id }),
            r.criterion && r.criterion !== r.id ? h("span", { class: "small muted", text: " (" + r.criterion + ")" }) : null),
          h("div", { class: "small" }, t("where") + ": ", ruleWhere(r.id, rules),
            info.when ? [" · ", h("code", { text: info.when })] : null),
          Object.keys(r.matched).length ? h("div", { class: "matched" }, t("matched") + ": ",
            Object.entries(r.matched).map(([k, v], j) => [j ? ", " : "", factLink(k, k), "=" + valueText(v),
              r.derived.includes(k) ? " (" + t("derived") + ")" : ""])) : null,
          r.citations.map(citationBlock),
          r.note ? h("div", { class: "small muted", text: t("rule_note") + ": " + L(r.note) }) : null);
      })));
    }
    if (sec.records) {
      const byId = {};
      for (const r of d.records) byId[r.id] = r;
      card.append(section("records", sec.records.title, h("ul", {}, sec.records.lines.map((line) => {
        const rec = byId[line.code];
        return h("li", { dataset: { record: line.code }, class: diff && diff.added.records.includes(line.code) ? "changed" : null },
          L(rec.title), " ", rec.deferrable ? h("span", { class: "badge", text: t("later") }) : null,
          h("span", { class: "small muted", text: " · " + t("required_by") + " " + rec.required_by.join(", ") }));
      }))));
    }
    if (sec.refusal) {
      card.append(section("refusal", sec.refusal.title, h("p", { text: sec.refusal.lines[0].text }),
        d.refusal.citations.map(citationBlock)));
    }
    if (sec.advice) card.append(section("advice", sec.advice.title, h("ul", {}, sec.advice.lines.map((l) => h("li", { text: l.text })))));
    if (data.undetermined.length) {
      card.append(section("undetermined", t("undetermined"), h("ul", {}, data.undetermined.map((u) =>
        h("li", { dataset: { rule: u.rule } }, h("strong", { text: L(u.title) }), " ", h("code", { text: u.rule }), " ",
          ruleWhere(u.rule, rules),
          h("div", { class: "small" }, t("decide_by") + " ", u.facts.map((f, j) => [j ? ", " : "",
            factLink(f.fact, L(f.label)), " ", h("span", { class: "effect", text: "(" + t("effect")[f.effect] + ")" }),
            f.derivable_from.length ? [" ", t("or_record"), " ", f.derivable_from.join(", ")] : null])))))));
    }
    for (const key of ["missing", "derived", "not_assessed", "notes"]) {
      const s = sec[key];
      if (!s) continue;
      const wrap = key === "missing" && data.undetermined.length
        ? (title, ...kids) => h("details", { class: "dsec", dataset: { section: key } }, h("summary", { text: title }), kids)
        : (title, ...kids) => section(key, title, kids);
      card.append(wrap(s.title, h("ul", {}, s.lines.map((l) => h("li", {},
        l.code && (key === "missing" || key === "derived") && state.form.facts[l.code] ? [factLink(l.code, l.text)] : l.text,
        l.group ? h("span", { class: "effect", text: " · " + l.group }) : null,
        l.details.length ? h("div", { class: "small muted", text: l.details.join("; ") }) : null)))));
    }
    card.append(h("p", { class: "small muted", text: t("versions") + ": " + p.versions }),
      h("p", { class: "small", text: p.disclaimer }));
    // derived facts beside their fields
    $$(".derived-now").forEach((el) => { el.hidden = true; el.textContent = ""; });
    for (const df of d.derived_facts) {
      const el = $("#d-" + df.fact);
      if (!el) continue;
      el.hidden = false;
      el.textContent = t("derived_now", { v: valueText(df.value),
        from: Object.entries(df.derived_from).map(([k, v]) => k + "=" + valueText(v)).join(", ") });
    }
    // how each ruleset took part
    for (const r of d.rulesets) {
      const b = $("#scope-" + r.id);
      if (!b || !r.scope) continue;
      b.hidden = false;
      b.dataset.scope = r.scope;
      b.textContent = t("scope_" + r.scope);
    }
    const changes = clear($("#changes"));
    if (diff) {
      if (diff.items.length) changes.append(t("changed"), h("ul", {}, diff.items.map((i) => h("li", { text: i.text }))));
      else changes.append(t("unchanged"));
    }
  }

  // --- save as a case ------------------------------------------------------------------------
  function saveCaseSection() {
    const s = h("section", { class: "card save-case", "aria-labelledby": "h-save" },
      h("h3", { id: "h-save", text: t("save_h") }),
      h("p", { class: "small muted", text: t("case_help") }),
      h("div", { class: "row" }, h("label", { for: "case-name", text: t("case_name") }),
        h("input", { type: "text", id: "case-name", placeholder: t("case_name_ph"), maxlength: "300" })),
      h("div", { class: "row" }, h("label", { for: "case-criterion", text: t("case_criterion") }),
        h("input", { type: "text", id: "case-criterion", maxlength: "200" })),
      h("div", { class: "row" }, h("button", { type: "button", class: "primary", id: "make-case", text: t("make_case"), onclick: makeCase })),
      h("div", { id: "case-out", hidden: true },
        h("p", { id: "case-verified", role: "status" }),
        h("label", { for: "case-yaml", text: t("yaml_label") }),
        h("textarea", { id: "case-yaml", class: "code", readonly: true, spellcheck: "false", rows: "14" }),
        h("div", { class: "row" },
          h("button", { type: "button", id: "copy-case", text: t("copy"), onclick: copyCase }),
          h("a", { class: "button", id: "download-case", href: "#", download: "case.yaml", text: t("download") }),
          h("span", { id: "copy-status", role: "status", class: "small" }))));
    return s;
  }

  async function makeCase() {
    const name = $("#case-name").value.trim() || ($("#headline") ? $("#headline").textContent : "workbench case");
    const criterion = $("#case-criterion").value.trim() || null;
    const res = await api("/case", { facts: state.facts, conditions: conditions(), name, criterion });
    const out = $("#case-out");
    out.hidden = false;
    const status = $("#case-verified");
    if (!res.ok) {
      status.className = "bad";
      status.textContent = (res.data && res.data.message) || t("error") + res.status;
      return;
    }
    const snippet = res.data;
    status.className = snippet.verified ? "ok" : "bad";
    status.textContent = snippet.verified ? t("verified") : t("not_verified") + " " + snippet.problems.join("; ");
    $("#case-yaml").value = snippet.yaml;
    const link = $("#download-case");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([snippet.yaml], { type: "text/yaml;charset=utf-8" }));
  }

  async function copyCase() {
    const area = $("#case-yaml");
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(area.value); done = true; }
    } catch (e) { done = false; }
    if (!done) { area.focus(); area.select(); done = document.execCommand("copy"); }
    $("#copy-status").textContent = done ? t("copied") : "";
  }

  // --- cases ---------------------------------------------------------------------------------
  async function showCases() {
    if (!state.cases) {
      const res = await api("/cases");
      if (!res.ok) { clear($("#view-cases")).append(h("p", { class: "bad", text: t("error") + res.status })); return; }
      state.cases = res.data;
      if (!state.caseFile && state.cases.files.length) state.caseFile = state.cases.files[0].file;
    }
    renderCases();
  }

  function caseKey(file, index) { return file + "#" + index; }

  function conditionsText(c, file) {
    if (c === "all") return t("all_rs");
    return c.join(", ");
  }

  function renderCases() {
    const view = clear($("#view-cases"));
    view.append(h("h2", { id: "h-cases", tabindex: "-1", text: t("h_cases") }));
    if (!state.cases) return;
    const select = h("select", { id: "case-file", onchange: (e) => { state.caseFile = e.target.value; renderCases(); $("#case-file").focus(); } },
      state.cases.files.map((f) => h("option", { value: f.file, selected: f.file === state.caseFile,
        text: f.file + (f.title ? " · " + L(f.title) : "") + " (" + t("cases_n", { n: f.cases.length }) + ")" })));
    const filter = h("input", { type: "search", id: "case-filter", placeholder: t("filter_ph"),
      oninput: () => applyCaseFilter() });
    view.append(h("div", { class: "toolbar" },
      h("label", { for: "case-file", text: t("file") }), select,
      h("button", { type: "button", id: "run-file", class: "primary", text: t("run_file"), onclick: () => runCases(state.caseFile) }),
      h("button", { type: "button", id: "run-all", text: t("run_all"), onclick: () => runCases(null) }),
      h("label", { for: "case-filter", text: t("filter") }), filter),
      h("p", { id: "run-summary", role: "status", "aria-live": "polite" }, state.runSummary || ""));
    const file = state.cases.files.find((f) => f.file === state.caseFile);
    if (!file) return;
    const tbody = h("tbody");
    for (const c of file.cases) {
      const key = caseKey(file.file, c.index);
      const r = state.results[key];
      const status = r ? (r.passed ? "pass" : "fail") : null;
      tbody.append(h("tr", { dataset: { case: key, name: c.name.toLowerCase() + " " + (c.criterion || "").toLowerCase() } },
        h("td", { class: status ? "status status-" + status : "status", text: status ? t(status) : t("not_run") }),
        h("td", {}, c.name),
        h("td", { text: c.criterion || "" }),
        h("td", { text: c.conditions === null ? t("own_rs") : conditionsText(c.conditions) }),
        h("td", { class: "where", text: String(c.line) }),
        h("td", {},
          h("button", { type: "button", "aria-label": t("load") + ": " + c.name, text: t("load"), onclick: () => loadCase(file, c) }), " ",
          h("button", { type: "button", "aria-label": t("run") + ": " + c.name, text: t("run"), onclick: () => runCases(file.file, c.index) }))));
      if (r && !r.passed) tbody.append(diffRow(r));
    }
    view.append(h("div", { class: "cases-scroll" }, h("table", { id: "case-table" },
      h("caption", { class: "visually-hidden", text: file.file }),
      h("thead", {}, h("tr", {}, ["result", "name", "criterion", "rulesets", "line", "actions"].map((k) => h("th", { scope: "col", text: t(k) })))),
      tbody)));
    applyCaseFilter();
  }

  function show(v) { return v === null ? "null" : Array.isArray(v) ? "[" + v.join(", ") + "]" : typeof v === "object" ? JSON.stringify(v) : valueText(v); }

  function diffRow(r) {
    return h("tr", { class: "diff-row", dataset: { diff: caseKey(r.file, r.index) } }, h("td", { colspan: "6" },
      h("table", { class: "diff" },
        h("thead", {}, h("tr", {}, ["key", "expected", "actual"].map((k) => h("th", { scope: "col", text: t(k) })))),
        h("tbody", {}, r.diff.map((row) => h("tr", { dataset: { key: row.key, ok: String(row.ok) } },
          h("td", { class: row.ok ? null : "no" }, h("code", { text: row.key })),
          h("td", { text: show(row.expected) }), h("td", { class: row.ok ? null : "no", text: show(row.actual) }))))),
      h("p", { class: "small" }, t("problems") + ": ", r.problems.join(" · "))));
  }

  function applyCaseFilter() {
    const el = $("#case-filter");
    const q = el ? el.value.trim().toLowerCase() : "";
    $$("#case-table > tbody > tr[data-case]").forEach((tr) => {
      tr.hidden = Boolean(q) && !tr.dataset.name.includes(q);
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("diff-row")) next.hidden = tr.hidden;
    });
  }

  async function runCases(file, index) {
    const summary = $("#run-summary");
    if (summary) summary.textContent = t("running");
    const body = {};
    if (file) body.file = file;
    if (index !== undefined) body.index = index;
    const res = await api("/cases/run", body);
    if (!res.ok) { if (summary) summary.textContent = (res.data && res.data.message) || t("error") + res.status; return null; }
    for (const r of res.data.results) state.results[caseKey(r.file, r.index)] = r;
    let text = t("run_summary", { p: res.data.passed, f: res.data.failed });
    const c = res.data.coverage;
    if (c) text += " · " + t("coverage", { pc: c.percent, r: c.rules_total, d: c.derivations_total, t: c.thresholds_total });
    state.runSummary = text;
    if (state.view === "cases") {
      renderCases();
      const focusTo = index !== undefined ? $('tr[data-case="' + caseKey(file, index) + '"] button:last-child') : $(file ? "#run-file" : "#run-all");
      if (focusTo) focusTo.focus();
    }
    return res.data;
  }

  async function loadCase(file, c) {
    const conds = c.conditions === null ? [file.ruleset] : c.conditions;
    state.mode = conds === "all" ? "all" : "some";
    state.some = conds === "all" ? [] : conds.filter(Boolean);
    state.loadedCase = { file: file.file, index: c.index, line: c.line, name: c.name, expect: c.expect, result: null };
    setFacts(c.facts);
    location.hash = "#try";
    schedule();
    const run = await runCases(file.file, c.index);
    if (run && state.loadedCase && state.loadedCase.index === c.index && state.loadedCase.file === file.file) {
      state.loadedCase.result = run.results[0];
      renderLoadedCase();
    }
  }

  function renderLoadedCase() {
    const box = $("#loaded-case");
    if (!box) return;
    clear(box);
    const lc = state.loadedCase;
    if (!lc) return;
    box.append(h("div", { class: "loaded-case" },
      h("div", {}, t("loaded"), h("strong", { text: lc.name }), " ", h("span", { class: "where", text: fileLine(lc.file, lc.line) })),
      h("div", { class: "small" }, t("expected") + ": ", h("code", { text: JSON.stringify(lc.expect) })),
      lc.result ? h("div", { class: lc.result.passed ? "ok" : "bad", id: "loaded-case-result" },
        t("case_result") + (lc.result.passed ? t("pass") : t("fail") + " — " + lc.result.problems.join("; "))) : null));
  }

  // --- rules ---------------------------------------------------------------------------------
  async function showRules(id, ruleId) {
    const view = $("#view-rules");
    if (!state.form) return;
    const ids = state.form.rulesets.map((r) => r.id);
    state.rulesetId = ids.includes(id) ? id : (state.rulesetId || ids[0]);
    if (!state.rulesets[state.rulesetId]) {
      const res = await api("/rulesets/" + encodeURIComponent(state.rulesetId));
      if (!res.ok) { clear(view).append(h("p", { class: "bad", text: t("error") + res.status })); return; }
      state.rulesets[state.rulesetId] = res.data;
    }
    renderRules();
    if (ruleId) {
      const el = document.getElementById("rule-" + safeId(ruleId));
      if (el) { el.classList.add("target"); el.scrollIntoView({ block: "start" }); el.focus(); }
    }
    loadLint();
  }

  function renderRules() {
    const view = clear($("#view-rules"));
    view.append(h("h2", { id: "h-rules", tabindex: "-1", text: t("h_rules") }));
    const rs = state.rulesets[state.rulesetId];
    view.append(h("div", { class: "toolbar" }, h("label", { for: "rules-select", text: t("ruleset") }),
      h("select", { id: "rules-select", onchange: (e) => { location.hash = "#rules/" + e.target.value; } },
        state.form.rulesets.map((r) => h("option", { value: r.id, selected: r.id === state.rulesetId, text: L(r.title) + " (" + r.id + ")" })))));
    if (!rs) return;
    const article = h("article", { class: "card", id: "ruleset-detail", "aria-labelledby": "rs-title" },
      h("h3", { id: "rs-title", text: L(rs.title) + " · " + rs.id + " " + rs.version }),
      h("dl", { class: "facts" },
        h("dt", { text: t("file") }), h("dd", { class: "where", text: rs.file + " · sha256 " + rs.sha256.slice(0, 12) + "…" }),
        h("dt", { text: t("scope") }), h("dd", {}, h("code", { text: rs.scope })),
        h("dt", { text: t("specialty") }), h("dd", { text: rs.specialty || "—" }),
        h("dt", { text: t("h_cases") }), h("dd", { text: String(rs.cases) })));
    const fit = h("button", { type: "button", id: "flow-fit", "aria-pressed": String(Boolean(state.flowFit)),
      text: t("flow_fit"), onclick: () => {
        state.flowFit = !state.flowFit;
        fit.setAttribute("aria-pressed", String(state.flowFit));
        $("#flow").classList.toggle("fit", state.flowFit);
      } });
    article.append(h("h4", { text: t("flow") }),
      h("p", { class: "small muted" }, t("flow_help"), " ", fit),
      h("div", { class: "flow" + (state.flowFit ? " fit" : ""), id: "flow", role: "img",
                 "aria-label": t("flow") + ": " + L(rs.title) }));
    article.append(h("h4", { text: t("thresholds") }), h("table", {},
      h("thead", {}, h("tr", {}, [t("name"), t("value"), t("source"), t("note")].map((x) => h("th", { scope: "col", text: x })))),
      h("tbody", {}, rs.definitions.map((d) => h("tr", { id: "def-" + safeId(d.name) },
        h("td", {}, h("code", { text: d.name })),
        h("td", {}, d.kind === "threshold" ? h("strong", { text: valueText(d.value) + (d.unit ? " " + d.unit : "") }) : h("code", { text: String(d.value) }),
          d.otherwise ? h("span", { class: "small", text: " (otherwise " + d.otherwise + ")" }) : null),
        h("td", {}, d.citations.map(citationBlock)), h("td", { class: "small", text: L(d.note) }))))));
    article.append(h("h4", { text: t("rules_list") }), h("div", { id: "rule-list" }, rs.rules.map((r) => h("section", {
      class: "rule-item", id: "rule-" + safeId(r.id), tabindex: "-1", "aria-labelledby": "rt-" + safeId(r.id) },
      h("div", {}, h("strong", { id: "rt-" + safeId(r.id), text: L(r.title) }), " ", h("code", { text: r.id }),
        " ", h("span", { class: "where", text: fileLine(r.file, r.line) })),
      h("div", { class: "small" }, t("outcome") + ": " + t("direction_words")[r.direction] +
        (r.urgency ? " · " + t("urgency_words")[r.urgency] : "") + (r.target_level ? " → " + t("level_words")[r.target_level] : "") +
        (r.capability ? " · " + r.capability : "")),
      h("pre", {}, h("code", { text: r.when })),
      r.thresholds.length ? h("div", { class: "small" }, t("thresholds_of") + ": ", r.thresholds.map((x, j) => [j ? ", " : "", h("code", { text: x.fact + " " + x.op + " " + x.value })])) : null,
      r.records.length ? h("div", { class: "small", text: t("records") + ": " + r.records.join(", ") }) : null,
      r.citations.map(citationBlock),
      r.advice.map((a) => h("div", { class: "small", text: t("advice") + ": " + L(a) })),
      r.note ? h("div", { class: "small muted", text: t("note") + ": " + L(r.note) }) : null))));
    article.append(h("h4", { text: t("sources") }), h("ul", {}, rs.sources.map((s) => h("li", {}, h("code", { text: s.id }), " ",
      s.url ? h("a", { href: s.url, rel: "noreferrer noopener", target: "_blank", text: s.title }) : s.title,
      s.publisher ? " · " + s.publisher : "", s.year ? " · " + s.year : ""))));
    if (rs.not_encoded.length) {
      article.append(h("h4", { text: t("not_encoded") }), h("ul", {}, rs.not_encoded.map((n) => h("li", {},
        n.criterion ? h("code", { text: n.criterion + " " }) : null, h("strong", { text: L(n.item) }), " — ", L(n.reason)))));
    }
    view.append(article, h("section", { class: "card", "aria-labelledby": "h-lint" },
      h("h3", { id: "h-lint", text: t("lint_h") }), h("div", { id: "lint", role: "status", "aria-live": "polite" })));
    drawFlow(rs);
    renderLint();
  }

  function loadMermaid() {
    if (state.mermaid) return state.mermaid;
    state.mermaid = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = ROOT + "/workbench-assets/mermaid/mermaid.min.js";
      s.onload = () => {
        window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default",
          flowchart: { htmlLabels: true, useMaxWidth: false } });
        resolve(window.mermaid);
      };
      s.onerror = () => reject(new Error("mermaid did not load"));
      document.head.append(s);
    });
    return state.mermaid;
  }

  let flowSeq = 0;
  async function drawFlow(rs) {
    const box = $("#flow");
    const seq = ++flowSeq;
    try {
      const mermaid = await loadMermaid();
      const { svg } = await mermaid.render("flow-svg-" + seq, rs.flow);
      if (seq !== flowSeq || !box.isConnected) return;
      box.innerHTML = svg;
      box.dataset.rendered = "true";
    } catch (e) {
      if (!box.isConnected) return;
      clear(box).append(h("p", { class: "bad", text: t("flow_fail") }), h("pre", { class: "flow-src", text: rs.flow }));
    }
  }

  async function loadLint() {
    if (state.lint) return;
    state.lint = { loading: true };
    renderLint();
    const res = await api("/lint");
    state.lint = res.ok ? res.data : { error: (res.data && res.data.message) || String(res.status) };
    renderLint();
  }

  function renderLint() {
    const box = $("#lint");
    if (!box || !state.lint) return;
    clear(box);
    const l = state.lint;
    if (l.loading) { box.append(h("p", { class: "muted", text: t("lint_loading") })); return; }
    if (l.error) { box.append(h("p", { class: "bad", text: t("error") + l.error })); return; }
    if (!l.ok) {
      box.append(h("p", { class: "bad", text: t("lint_failed") }), h("ul", {}, l.issues.map((i) => h("li", { class: "where", text: i.file + ":" + i.line + ":" + i.column + ": " + i.message }))));
      return;
    }
    if (!l.findings.length) { box.append(h("p", { class: "ok", text: t("lint_none") })); return; }
    box.append(h("ul", {}, l.findings.map((f, i) => h("li", { class: "finding", dataset: { severity: f.severity, code: f.code } },
      h("span", { class: "badge", text: f.severity }), " ", h("span", { class: "where", text: f.file + ":" + f.line + ":" + f.column }),
      " " + f.message + " ", h("code", { text: "[" + f.code + "]" }),
      f.example ? h("div", {}, h("code", { class: "small", text: JSON.stringify(f.example) }), " ",
        h("button", { type: "button", id: "lint-example-" + i, text: t("load_example"), onclick: () => loadExample(f.example) })) : null))));
  }

  function loadExample(example) {
    const known = {}, dropped = [];
    for (const [k, v] of Object.entries(example)) {
      if (state.form.facts[k]) known[k] = v; else dropped.push(k);
    }
    state.loadedCase = null;
    state.mode = "all";
    setFacts(known);
    location.hash = "#try";
    if (dropped.length) {
      $("#loaded-case").append(h("div", { class: "loaded-case", text: t("example_dropped", { names: dropped.join(", ") }) }));
    }
    schedule();
  }

  // --- draft check ---------------------------------------------------------------------------
  function renderDraftChrome() {
    const view = $("#view-draft");
    if (!view.dataset.built) return;
    $("#h-draft").textContent = t("h_draft");
    $("#draft-help").textContent = t("draft_help");
    $("#l-draft-file").textContent = t("draft_file");
    $("#l-draft-name").textContent = t("draft_name");
    $("#l-draft-text").textContent = t("editor");
    $("#draft-load").textContent = t("load_file");
    $("#draft-download").textContent = t("download_draft");
    const newOpt = $("#draft-file option[value='']");
    if (newOpt) newOpt.textContent = t("new_file");
    if (state.draftResult) renderDraftResult(state.draftResult);
  }

  async function showDraft() {
    const view = $("#view-draft");
    if (view.dataset.built) return;
    view.dataset.built = "true";
    const files = await api("/files");
    const names = files.ok ? files.data.files.map((f) => f.file) : [];
    const first = names.find((n) => !["facts.yaml", "policy.yaml"].includes(n)) || names[0] || "draft.yaml";
    const text = h("textarea", { id: "draft-text", class: "code", spellcheck: "false", wrap: "off",
      autocapitalize: "off", autocomplete: "off", "aria-describedby": "draft-help draft-status",
      oninput: scheduleDraft, onscroll: syncGutter });
    view.append(
      h("h2", { id: "h-draft", tabindex: "-1" }),
      h("p", { id: "draft-help", class: "small muted" }),
      h("div", { class: "toolbar" },
        h("label", { for: "draft-file", id: "l-draft-file" }),
        h("select", { id: "draft-file", onchange: (e) => { if (e.target.value) { $("#draft-name").value = e.target.value; loadDraftFile(); } } },
          names.map((n) => h("option", { value: n, text: n, selected: n === first })), h("option", { value: "" })),
        h("label", { for: "draft-name", id: "l-draft-name" }),
        h("input", { type: "text", id: "draft-name", value: first, pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]*\\.ya?ml", oninput: scheduleDraft }),
        h("button", { type: "button", id: "draft-load", onclick: loadDraftFile }),
        h("button", { type: "button", id: "draft-download", onclick: downloadDraft })),
      h("label", { for: "draft-text", id: "l-draft-text" }),
      h("div", { class: "editor" }, h("pre", { class: "gutter", id: "draft-gutter", "aria-hidden": "true" }), text),
      h("div", { id: "draft-status", role: "status", "aria-live": "polite" }),
      h("ol", { id: "draft-issues", class: "issues" }));
    renderDraftChrome();
    await loadDraftFile();
  }

  async function loadDraftFile() {
    const name = $("#draft-name").value.trim();
    const res = await api("/files/" + encodeURIComponent(name));
    if (res.ok) { $("#draft-text").value = res.data.text; }
    updateGutter([]);
    checkDraft();
  }

  function downloadDraft() {
    const a = h("a", { download: $("#draft-name").value.trim() || "draft.yaml",
      href: URL.createObjectURL(new Blob([$("#draft-text").value], { type: "text/yaml;charset=utf-8" })) });
    document.body.append(a); a.click(); a.remove();
  }

  function scheduleDraft() {
    clearTimeout(state.draftTimer);
    updateGutter(state.draftResult ? state.draftResult.issues : []);
    state.draftTimer = setTimeout(checkDraft, DRAFT_DEBOUNCE_MS);
  }

  async function checkDraft() {
    const name = $("#draft-name").value.trim();
    const seq = ++state.draftSeq;
    if (state.draftAbort) state.draftAbort.abort();
    state.draftAbort = new AbortController();
    $("#draft-status").textContent = t("checking");
    let res;
    try {
      res = await api("/draft", { file: name, text: $("#draft-text").value }, state.draftAbort.signal);
    } catch (e) {
      if (e.name === "AbortError") return;
      $("#draft-status").textContent = t("error") + e.message;
      return;
    }
    if (seq !== state.draftSeq) return;
    if (!res.ok) {
      const issues = (res.data && res.data.issues) || [];
      state.draftResult = { ok: false, file: name, summary: null, issues: issues.map((i) => ({
        file: name, line: 1, column: 1, path: i.path || "", message: i.message, code: i.code || "invalid-request",
        suggestion: null, text: (i.path || "") + ": " + i.message })) };
    } else {
      state.draftResult = res.data;
    }
    renderDraftResult(state.draftResult);
  }

  function renderDraftResult(r) {
    const status = $("#draft-status");
    const list = clear($("#draft-issues"));
    if (r.ok) {
      status.className = "ok";
      status.textContent = t("no_problems", { rs: r.summary.rulesets.length, r: r.summary.rules, c: r.summary.cases });
    } else {
      status.className = "bad";
      status.textContent = t("problems_n", { n: r.issues.length });
      for (const i of r.issues) {
        const w = i.file + ":" + i.line + ":" + i.column;
        list.append(h("li", { dataset: { line: String(i.line), column: String(i.column), file: i.file } },
          h("button", { type: "button", class: "where", "aria-label": t("go_to", { w }), text: w,
            disabled: i.file !== r.file, onclick: () => goToLine(i.line, i.column) }),
          " ", i.path ? h("code", { text: i.path + ": " }) : null, i.message,
          i.suggestion ? h("em", { text: " (" + i.suggestion + ")" }) : null, " ", h("code", { class: "small", text: "[" + i.code + "]" })));
      }
    }
    updateGutter(r.issues.filter((i) => i.file === r.file));
  }

  function updateGutter(issues) {
    const text = $("#draft-text");
    const gutter = $("#draft-gutter");
    if (!text || !gutter) return;
    const bad = new Set(issues.map((i) => i.line));
    const n = text.value.split("\n").length;
    clear(gutter);
    for (let i = 1; i <= n; i++) {
      gutter.append(bad.has(i) ? h("span", { class: "err", text: String(i) }) : String(i), "\n");
    }
    syncGutter();
  }

  function syncGutter() {
    const text = $("#draft-text"), gutter = $("#draft-gutter");
    if (text && gutter) gutter.scrollTop = text.scrollTop;
  }

  function goToLine(line, column) {
    const area = $("#draft-text");
    const lines = area.value.split("\n");
    let offset = 0;
    for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
    offset += Math.max(0, Math.min(column - 1, (lines[line - 1] || "").length));
    area.focus();
    area.setSelectionRange(offset, offset + Math.max(1, Math.min(20, (lines[line - 1] || "").length - column + 1)));
    const lh = parseFloat(getComputedStyle(area).lineHeight) || 18;
    area.scrollTop = Math.max(0, (line - 5) * lh);
    syncGutter();
  }

  // --- start ---------------------------------------------------------------------------------
  async function start() {
    const params = new URLSearchParams(location.search);
    let lang = params.get("lang");
    if (!lang) { try { lang = localStorage.getItem("referral-rules-workbench-lang"); } catch (e) { lang = null; } }
    if (!lang) lang = (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
    setLang(lang, false);
    $$(".lang button").forEach((b) => b.addEventListener("click", () => {
      setLang(b.dataset.lang, true);
      if (state.view === "try") schedule();
    }));
    const res = await api("/form");
    if (!res.ok) { $("#view-try").append(h("p", { class: "bad", text: t("error") + res.status })); return; }
    state.form = res.data;
    state.facts = defaultFacts();
    renderVersions();
    renderTry();
    window.addEventListener("hashchange", route);
    route();
    schedule();
    document.body.dataset.ready = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
