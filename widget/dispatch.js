/* Urgency and lead / co-handling departments in the routing card (docs/widget.md).
 * Renders /v1/analyze's `urgency` (level and the words that set it) and
 * `departments` ({lead, co}); the agent may pick another lead (a select) and remove
 * or add co-handlers (chips). The agent's edits survive re-analysis while typing;
 * reset() forgets them when a new call starts. window.HotlineDispatch. */
(function () {
  "use strict";

  const R = window.HotlineRender;
  const { node, pct } = R;
  const $ = (id) => document.getElementById(id);
  const el = {
    urgency: $("urgency"), urgencyLevel: $("urgency-level"), urgencyWhy: $("urgency-why"),
    lead: $("lead"), leadConf: $("lead-conf"), co: $("co"), coAdd: $("co-add"),
    coAddBtn: $("co-add-btn"), coError: $("co-error"),
  };

  let current = null;                 // the response's departments {lead, co}
  let userLead = null, userCo = null; // the agent's edits (null: take the suggestion)
  let known = [];                     // department names for the lead select
  let onLead = () => {};

  function suggestedCo() {
    return ((current && current.co) || []).map((c) => c.name);
  }

  function coNow() { return userCo != null ? userCo : suggestedCo(); }

  function leadNow() {
    return userLead != null ? userLead : ((current && current.lead && current.lead.name) || "");
  }

  function renderUrgency(u) {
    const level = (u && u.level) || "一般";
    el.urgency.hidden = !u;
    el.urgency.className = "urgency " + (level === "紧急" ? "urgent" : level === "较急" ? "soon" : "normal");
    el.urgencyLevel.textContent = level;
    const reasons = (u && u.reasons) || [];
    const words = [...new Set(reasons.map((r) => r.text).filter(Boolean))];
    // The learned signal's words are what weighed most, not a rule's match: say so.
    const learned = reasons.find((r) => r.rule === "learned");
    el.urgencyWhy.textContent = words.length
      ? "原因：" + words.join("、") + (learned ? "（模型判断，把握度 " + pct(learned.p) + "）" : "")
      : "";
  }

  function renderLead() {
    const lead = leadNow();
    const first = [lead, ...suggestedCo(), ...known].filter(Boolean);
    const names = [...new Set(first)];
    el.lead.replaceChildren(...names.map((n) => { const o = node("option", null, n); o.value = n; return o; }));
    el.lead.value = lead;
    const fixed = userLead != null && current && current.lead && userLead !== current.lead.name;
    el.lead.classList.toggle("fixed", !!fixed);
    el.leadConf.textContent = fixed ? "已改主办" : (current && current.lead ? "把握度 " + pct(current.lead.confidence) : "");
  }

  function renderCo() {
    const names = coNow();
    const conf = new Map(((current && current.co) || []).map((c) => [c.name, c.confidence]));
    el.co.replaceChildren(...(names.length ? names.map((n) => {
      const li = node("li", "chip co-chip");
      li.dataset.name = n;
      const label = node("span", null, conf.has(n) ? n + " " + pct(conf.get(n)) : n + "（坐席添加）");
      const x = R.button("×", "移除协办部门 " + n);
      x.className = "chip-x";
      x.addEventListener("click", () => { userCo = coNow().filter((c) => c !== n); renderCo(); });
      li.append(label, x);
      return li;
    }) : [node("li", "meta none", "无协办部门")]));
  }

  function setError(msg) {
    el.coError.textContent = msg;
    el.coError.hidden = !msg;
  }

  function addCo() {
    const n = el.coAdd.value.trim();
    if (!n) return;
    if (known.length && !known.includes(n)) { setError("「" + n + "」不在部门列表中"); return; }
    if (n === leadNow()) { setError("「" + n + "」已是主办部门"); return; }
    setError("");
    if (!coNow().includes(n)) userCo = [...coNow(), n];
    el.coAdd.value = "";
    renderCo();
  }

  el.lead.addEventListener("change", () => {
    userLead = el.lead.value;
    if (coNow().includes(userLead)) userCo = coNow().filter((c) => c !== userLead);
    renderLead(); renderCo();
    onLead(userLead);
  });
  el.coAddBtn.addEventListener("click", addCo);
  el.coAdd.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); addCo(); }
  });

  window.HotlineDispatch = {
    /** Show a response's urgency and departments (null hides the urgency line). */
    render(data) {
      current = (data && data.departments) || null;
      setError("");
      renderUrgency(data && data.urgency);
      renderLead(); renderCo();
    },
    reset() { userLead = userCo = null; },
    /** The department names for the lead select (from /v1/departments). */
    setKnown(names) { known = names.slice(); if (current) renderLead(); },
    /** The agent typed another department in the 承办部门 field: it is the lead. */
    setLead(name) {
      if (!known.length || known.includes(name)) { userLead = name || null; renderLead(); }
    },
    onLead(fn) { onLead = fn; },
    /** What the agent accepts: {lead, co: [names]}. */
    value() { return { lead: leadNow() || null, co: coNow().slice() }; },
  };
})();
