/* Pure view helpers for the sidebar (no state, no network): data in, DOM nodes
 * or strings out. widget.js owns the state and the calls. */
(function () {
  "use strict";

  const TYPE_NAMES = { consult: "咨询", complaint: "投诉", fault: "故障报修", suggestion: "建议", other: "其他（建议、感谢）" };
  const MATCHED = { question: "匹配标准问法", similar: "匹配相似问法", answer: "匹配答案内容" };
  // Evidence terms worth showing: words, not digit runs or n-grams across punctuation.
  const WORD = /^(?=.*[\p{Script=Han}A-Za-z])[\p{Script=Han}A-Za-z0-9]+$/u;

  function pct(x) {
    if (x == null || isNaN(x)) return "";
    return x > 0 && x < 0.005 ? "<1%" : Math.round(x * 100) + "%";
  }
  function typeName(l) { return TYPE_NAMES[l] || l; }

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  function button(text, label) {
    const b = node("button", null, text);
    b.type = "button";
    if (label) b.setAttribute("aria-label", label);
    return b;
  }

  function highlight(text, words) {
    const frag = document.createDocumentFragment();
    const list = (words || []).filter((w) => typeof w === "string" && w.length)
      .sort((a, b) => b.length - a.length);
    if (!list.length) { frag.appendChild(document.createTextNode(text)); return frag; }
    const re = new RegExp(list.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gi");
    let last = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > last) frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      frag.appendChild(node("mark", null, m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  // Why the server asked for review: review_reasons names the heads in the
  // review zone ("type", "department"); say it with the numbers the agent sees.
  function reviewReason(data) {
    const type = data.type || {}, dept = data.department || {};
    const reasons = data.review_reasons || [];
    const parts = [];
    if (reasons.includes("department")) {
      const top = dept.top3 || [];
      // Two close candidates are worth naming only when the leader is not weak anyway.
      parts.push(dept.confidence >= 0.4 && top.length > 1 && top[0].prob - top[1].prob < 0.15
        ? "承办部门在「" + top[0].label + "」和「" + top[1].label + "」之间难以区分"
        : "承办部门把握度仅 " + pct(dept.confidence));
    }
    if (reasons.includes("type")) {
      parts.push(type.label ? "诉求类型把握度仅 " + pct(type.confidence) : "诉求类型未能判断");
    }
    // "type:other": most like a label the type head learned but never answers
    // (proposals, thanks); the type shown is only the nearest request type.
    reasons.filter((r) => r.startsWith("type:")).forEach((r) => {
      const like = r === "type:other" ? "建议、感谢或意见" : typeName(r.slice(5));
      parts.push("内容更像" + like + "，不是咨询、投诉或报修，「" + typeName(type.label)
        + "」只是最接近的类型");
    });
    return (parts.length ? parts.join("；") : "系统把握不足") + "，请核对后再派单。";
  }

  function formatDeadline(days, iso) {
    if (!iso && days == null) return "—";
    let when = "";
    if (iso) {
      const d = new Date(iso + "T00:00:00");
      when = isNaN(d) ? iso : d.toLocaleDateString("zh-CN", { month: "long", day: "numeric", weekday: "short" });
    }
    if (days == null) return when + " 前答复";
    return days + " 个工作日" + (when ? "（" + when + "前答复）" : "内答复");
  }

  // Same rule as the server (hotline.workdays.add_working_days): Monday-Friday.
  function addWorkingDays(start, days) {
    const d = new Date(start.getFullYear(), start.getMonth(), start.getDate());
    while (days > 0) {
      d.setDate(d.getDate() + 1);
      if (d.getDay() !== 0 && d.getDay() !== 6) days -= 1;
    }
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  function typeOptions(type, reasons) {
    const probs = type.probs || {};
    // No type head (cold start): the agent still picks one of the usual types.
    const labels = Object.keys(probs).length ? Object.keys(probs)
      : [...new Set([type.label, "consult", "complaint", "fault"].filter(Boolean))];
    // Sent to review as "type:other": the agent can confirm it is a proposal or thanks
    // (the feedback then teaches the type head that label, which it never answers).
    (reasons || []).filter((r) => r.startsWith("type:")).forEach((r) => {
      if (!labels.includes(r.slice(5))) labels.push(r.slice(5));
    });
    const options = labels.map((l) => Object.assign(node("option", null, typeName(l)), { value: l }));
    if (!type.label) options.unshift(Object.assign(node("option", null, "请选择"), { value: "" }));
    return options;
  }

  // One KB answer; ``on`` = {copy(i), helped(i)}.
  function answerItem(a, i, on) {
    const li = node("li");
    li.dataset.id = a.id;
    const hl = a.highlights || {};
    const q = node("div", "q");
    q.id = "answer-q-" + i;
    q.appendChild(highlight(a.question || "", hl.question));
    // A plain rank, not the fused score: that sum of cosine and lexical terms is no
    // probability and printed as a percentage it read 119 %.
    const meta = node("div", "meta", [a.id, (a.department || []).join("、"), a.region || "全市",
      "第 " + (i + 1) + " 位"].filter(Boolean).join(" · "));
    const body = node("div", "a collapsed");
    body.id = "answer-" + i;
    body.appendChild(highlight(a.answer || "", hl.answer));
    const expand = button("展开");
    expand.setAttribute("aria-expanded", "false");
    expand.setAttribute("aria-controls", body.id);
    expand.setAttribute("aria-describedby", q.id);
    expand.addEventListener("click", () => {
      const open = body.classList.toggle("collapsed") === false;
      expand.textContent = open ? "收起" : "展开";
      expand.setAttribute("aria-expanded", String(open));
    });
    const copy = button(i < 3 ? "复制 Alt+" + (i + 1) : "复制", "复制第 " + (i + 1) + " 条答案");
    if (i < 3) copy.setAttribute("aria-keyshortcuts", "Alt+" + (i + 1));
    copy.classList.add("copy");
    copy.addEventListener("click", () => on.copy(i));
    const helped = button("有帮助", "第 " + (i + 1) + " 条答案有帮助");
    helped.classList.add("helped");
    helped.setAttribute("aria-pressed", "false");
    helped.addEventListener("click", () => on.helped(i));
    const actions = node("div", "actions");
    actions.append(expand, copy, helped);
    li.append(q, meta);
    if (a.matched && a.matched !== "question" && a.matched_text) {
      li.append(node("div", "meta via", (MATCHED[a.matched] || "匹配") + "：" + a.matched_text));
    }
    li.append(body, actions);
    return li;
  }

  function caseItem(c) {
    const li = node("li");
    const score = c.score != null ? c.score : c.similarity;
    const t = node("div", "case-text", c.text || c.title || c.detail || "");
    t.title = t.textContent;
    li.append(t, node("div", "meta", [typeName(c.type), c.department || c.label,
      score != null ? "相似度 " + pct(score) : ""].filter(Boolean).join(" · ")));
    return li;
  }

  function label(v) {
    if (v == null) return "";
    if (typeof v === "string") return v;
    return v.term || v.word || v.keyword || v.text || v.label || "";
  }

  function chips(title, items) {
    const wrap = node("div");
    wrap.appendChild(node("div", "meta", title));
    const box = node("ul", "chips");
    box.setAttribute("aria-label", title);
    items.forEach((w) => box.appendChild(node("li", "chip", w)));
    wrap.appendChild(box);
    return wrap;
  }

  // The "why" card: the classifier's evidence (words, keywords, cues) and type probabilities.
  function whyParts(ev, type) {
    const parts = [];
    const words = [...new Set((ev.words || []).map(label).filter((w) => WORD.test(w)))];
    if (words.length) parts.push(chips("关键词", words));
    let kws = ev.keywords || [];
    if (!Array.isArray(kws)) kws = Object.values(kws).flat();   // {department: [keywords]}
    kws = kws.map(label).filter(Boolean);
    if (kws.length) parts.push(chips("匹配部门职责", kws));
    const cues = ev.cues && typeof ev.cues === "object"
      ? [...new Set(Object.values(ev.cues).flat().map(label).filter((w) => WORD.test(w)))] : [];
    if (cues.length) parts.push(chips("类型线索", cues));
    const probs = Object.entries(type.probs || {}).sort((a, b) => b[1] - a[1]);
    if (probs.length) {
      parts.push(node("div", "meta", "类型概率：" + probs.map(([l, p]) => typeName(l) + " " + pct(p)).join(" · ")));
    }
    if (!parts.length) parts.push(node("div", "meta", "无"));
    return parts;
  }

  window.HotlineRender = {
    pct, typeName, node, button, highlight, reviewReason, formatDeadline, addWorkingDays,
    typeOptions, answerItem, caseItem, whyParts,
  };
})();
