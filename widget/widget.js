/* 12345 agent sidebar: calls POST /v1/analyze while the agent types, posts
 * POST /v1/feedback when the agent accepts or corrects. Self-contained, no CDN.
 * Auth is the same-origin session cookie that GET /widget sets (no key in the page). */
(function () {
  "use strict";

  const DEBOUNCE_MS = 300;
  const SLOW_MS = 1500;                     // after this a pending call says "please wait"
  const TIMEOUT_MS = 8000;
  const RETRY_MS = [1000, 2000, 4000, 8000];
  const TYPE_NAMES = { consult: "咨询", complaint: "投诉", fault: "故障报修", suggestion: "建议", other: "其他" };
  const params = new URLSearchParams(location.search);
  const channel = params.get("channel") || null;   // the desktop may say where the call came from

  const $ = (id) => document.getElementById(id);
  const el = {
    text: $("text"), region: $("region"), clear: $("clear"), status: $("status"),
    notice: $("notice"), noticeText: $("notice-text"), retryNow: $("retry-now"), results: $("results"),
    routing: $("routing"), review: $("review"), reviewWhy: $("review-why"), type: $("type"),
    typeConf: $("type-conf"), department: $("department"), departments: $("departments"),
    deptConf: $("dept-conf"), deptError: $("dept-error"), deadline: $("deadline"), top3: $("top3"),
    accept: $("accept"), saved: $("saved"), answersCard: $("answers-card"), answers: $("answers"),
    casesCard: $("cases-card"), cases: $("cases"), whyCard: $("why-card"), why: $("why"),
  };

  let seq = 0;            // number of the newest analyze call sent
  let shownSeq = 0;       // number of the call whose response is on screen
  let timer = null, retryTimer = null, slowTimer = null;
  let retries = 0;
  let current = null;     // the analyze response on screen
  let chosenAnswer = null;
  let knownDepartments = new Set();
  let replyDays = new Map();             // department -> working days to reply (taxonomy)
  let userType = null, userDept = null;   // the agent's corrections survive re-analysis while typing

  // ------------------------------------------------------------------ HTTP
  async function call(method, path, body) {
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const init = { method, credentials: "same-origin", signal: ctrl.signal, headers: {} };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const r = await fetch(path, init);
      const data = await r.json().catch(() => ({}));
      if (!r.ok) {
        const err = new Error(data.detail || data.title || ("HTTP " + r.status));
        err.status = r.status;
        err.code = data.code;
        err.retryAfter = Number(r.headers.get("Retry-After")) || 0;
        throw err;
      }
      return data;
    } finally {
      clearTimeout(t);
    }
  }

  // ------------------------------------------------------------------ status line and notice
  function setStatus(text, busy) {
    el.status.textContent = text;
    el.status.classList.toggle("busy", !!busy);
  }

  function showNotice(text, kind) {   // kind: "calm" (waiting, retrying) | "error" | ""
    el.noticeText.textContent = text || "";
    el.notice.className = "notice " + (kind || "");
    el.notice.hidden = !text;
    el.retryNow.hidden = kind !== "calm" || !retryTimer;
  }

  // ------------------------------------------------------------------ analyze loop
  function schedule(delay) {
    clearTimeout(timer);
    clearTimeout(retryTimer);
    retryTimer = null;
    retries = 0;
    timer = setTimeout(analyze, delay == null ? DEBOUNCE_MS : delay);
  }

  function requestBody(text) {
    const body = { text };
    const region = el.region.value.trim();
    if (region) body.region = region;
    if (channel) body.channel = channel;
    return body;
  }

  async function analyze() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const text = el.text.value.trim();
    if (!text) {
      seq += 1; shownSeq = seq;          // anything still in flight is now stale
      userType = userDept = null;        // a new call starts
      render(null); setStatus("就绪"); showNotice(""); return;
    }
    const mySeq = ++seq;
    setStatus("分析中…", true);
    el.results.setAttribute("aria-busy", "true");
    clearTimeout(slowTimer);
    slowTimer = setTimeout(() => {
      if (mySeq === seq) { el.results.classList.add("stale"); showNotice("分析较慢，请稍候…您可以继续记录。", "calm"); }
    }, SLOW_MS);
    try {
      const data = await call("POST", "/v1/analyze", requestBody(text));
      // Only a response newer than the one on screen may replace it: a slow old
      // call that finishes after a newer one must not overwrite it.
      if (mySeq <= shownSeq) return;
      shownSeq = mySeq;
      render(data);
      if (mySeq === seq) {
        finishCall();
        retries = 0;
        showNotice("");
        const time = new Date().toLocaleTimeString("zh-CN", { hour12: false });
        setStatus("已更新 " + time + (data.needs_review ? " · 需人工复核" : ""));
      }
    } catch (err) {
      if (mySeq !== seq) return;         // a newer call is on its way; it will report
      finishCall();
      failed(err);
    }
  }

  function finishCall() {
    clearTimeout(slowTimer);
    el.results.classList.remove("stale");
    el.results.removeAttribute("aria-busy");
  }

  function failed(err) {
    if (err.status === 400) {             // the text itself is unusable: say so, no retry
      showNotice("无法分析这段内容：" + err.message, "error");
      setStatus("就绪");
      return;
    }
    if (err.status === 401 || err.status === 403) {
      showNotice("登录状态已失效，请刷新本页面（F5）后继续。", "error");
      setStatus("未登录");
      return;
    }
    let wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
    if (err.retryAfter) wait = Math.max(wait, err.retryAfter * 1000);
    retries += 1;
    const why = err.code === "not_ready" ? "系统正在准备知识库和模型" : "服务暂时没有响应";
    retryTimer = setTimeout(analyze, wait);
    showNotice(why + "，" + Math.round(wait / 1000) + " 秒后自动重试。您可以继续记录。", "calm");
    setStatus("等待重试");
  }

  // ------------------------------------------------------------------ rendering
  function pct(x) { return (x == null || isNaN(x)) ? "" : Math.round(x * 100) + "%"; }

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

  function render(data) {
    current = data;
    chosenAnswer = null;
    el.saved.textContent = "";
    setDeptError("");
    const has = !!data;
    el.routing.hidden = !has;
    el.answersCard.hidden = !has;
    el.casesCard.hidden = !(has && (data.similar_cases || []).length);
    el.whyCard.hidden = !has;
    if (!has) return;
    renderRouting(data);
    renderAnswers(data.answers || []);
    renderCases(data.similar_cases || []);
    renderWhy(data.evidence || {}, data.type || {});
  }

  function reviewReason(type, dept) {
    const top = dept.top3 || [];
    if (dept.confidence != null && dept.confidence < 0.5) return "部门把握度仅 " + pct(dept.confidence) + "，请核对后再派单。";
    if (top.length > 1 && top[0].prob - top[1].prob < 0.15) {
      return "「" + top[0].label + "」与「" + top[1].label + "」难以区分，请核对后再派单。";
    }
    if (type.confidence != null && type.confidence < 0.5) return "诉求类型把握度仅 " + pct(type.confidence) + "，请核对。";
    return "系统把握不足，请核对类型和部门后再派单。";
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

  // Same rule as the server (hotline.api.engine.add_working_days): Monday-Friday.
  function addWorkingDays(start, days) {
    const d = new Date(start.getFullYear(), start.getMonth(), start.getDate());
    while (days > 0) {
      d.setDate(d.getDate() + 1);
      if (d.getDay() !== 0 && d.getDay() !== 6) days -= 1;
    }
    const pad = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  function renderRouting(data) {
    const type = data.type || {};
    const dept = data.department || {};
    const review = !!data.needs_review;
    el.review.hidden = !review;
    el.reviewWhy.textContent = review ? reviewReason(type, dept) : "";
    el.routing.classList.toggle("needs-review", review);
    const probs = type.probs || {};
    const labels = Object.keys(probs).length ? Object.keys(probs) : [type.label];
    el.type.replaceChildren(...labels.filter(Boolean).map((l) => {
      const o = node("option", null, TYPE_NAMES[l] || l);
      o.value = l;
      return o;
    }));
    el.type.value = userType || type.label || "";
    el.typeConf.classList.toggle("low", type.confidence < 0.5);
    el.department.value = userDept != null ? userDept : (dept.label || "");
    el.deptConf.classList.toggle("low", review || dept.confidence < 0.5);
    markCorrections();
    el.top3.replaceChildren(...(dept.top3 || []).map((c) => {
      const li = node("li");
      const b = button(c.label + " " + pct(c.prob), "改派到 " + c.label + "（" + pct(c.prob) + "）");
      b.addEventListener("click", () => {
        el.department.value = userDept = c.label;
        setDeptError("");
        markCorrections();
        el.department.focus();
      });
      li.appendChild(b);
      return li;
    }));
  }

  // Show, next to each field, whether the agent has overridden the suggestion.
  function markCorrections() {
    if (!current) return;
    const type = current.type || {}, dept = current.department || {};
    const typeFixed = el.type.value !== (type.label || "");
    const deptFixed = el.department.value.trim() !== (dept.label || "");
    el.typeConf.textContent = typeFixed ? "已更正（原 " + (TYPE_NAMES[type.label] || type.label) + "）" : "把握度 " + pct(type.confidence);
    el.deptConf.textContent = deptFixed ? "已改派" : "把握度 " + pct(dept.confidence);
    el.typeConf.classList.toggle("fixed", typeFixed);
    el.deptConf.classList.toggle("fixed", deptFixed);
    el.type.classList.toggle("fixed", typeFixed);
    el.department.classList.toggle("fixed", deptFixed);
    const days = deptFixed ? replyDays.get(el.department.value.trim()) : undefined;
    el.deadline.textContent = days != null
      ? formatDeadline(days, addWorkingDays(new Date(), days)) + " · 按改派部门"
      : formatDeadline(current.reply_days, current.reply_deadline);
  }

  const MATCHED = { question: "匹配标准问法", similar: "匹配相似问法", answer: "匹配答案内容" };

  function renderAnswers(answers) {
    if (!answers.length) {
      el.answers.replaceChildren(node("li", "meta empty", "知识库中没有找到相关答案"));
      return;
    }
    el.answers.replaceChildren(...answers.map((a, i) => {
      const li = node("li");
      li.dataset.id = a.id;
      const hl = a.highlights || {};
      const q = node("div", "q");
      q.id = "answer-q-" + i;
      q.appendChild(highlight(a.question || "", hl.question));
      const metaText = [a.id, (a.department || []).join("、"), a.region || "全市", "相关度 " + pct(a.score)]
        .filter(Boolean).join(" · ");
      const meta = node("div", "meta", metaText);
      const via = a.matched && a.matched !== "question" && a.matched_text
        ? node("div", "meta via", (MATCHED[a.matched] || "匹配") + "：" + a.matched_text) : null;
      const body = node("div", "a collapsed");
      body.id = "answer-" + i;
      body.appendChild(highlight(a.answer || "", hl.answer));
      const actions = node("div", "actions");
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
      copy.addEventListener("click", () => copyAnswer(i));
      const helped = button("有帮助", "第 " + (i + 1) + " 条答案有帮助");
      helped.classList.add("helped");
      helped.setAttribute("aria-pressed", "false");
      helped.addEventListener("click", () => markHelpful(i, true));
      actions.append(expand, copy, helped);
      li.append(q, meta);
      if (via) li.append(via);
      li.append(body, actions);
      return li;
    }));
  }

  function text(v) {
    if (v == null) return "";
    if (typeof v === "string") return v;
    return v.term || v.word || v.keyword || v.text || v.label || "";
  }

  function renderCases(cases) {
    el.cases.replaceChildren(...cases.map((c) => {
      const li = node("li");
      const score = c.score != null ? c.score : c.similarity;
      li.append(node("div", null, c.text || c.title || c.detail || ""),
        node("div", "meta", [TYPE_NAMES[c.type] || c.type, c.department || c.label,
          score != null ? "相似度 " + pct(score) : ""].filter(Boolean).join(" · ")));
      return li;
    }));
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

  function renderWhy(ev, type) {
    const parts = [];
    const words = (ev.words || ev.top_words || []).map(text).filter(Boolean);
    if (words.length) parts.push(chips("关键词", words));
    let kws = ev.keywords || ev.department_keywords || [];
    if (!Array.isArray(kws)) kws = Object.values(kws).flat();   // {department: [keywords]}
    kws = kws.map(text).filter(Boolean);
    if (kws.length) parts.push(chips("匹配部门职责", kws));
    const probs = Object.entries(type.probs || {}).sort((a, b) => b[1] - a[1]);
    if (probs.length) {
      parts.push(node("div", "meta", "类型概率：" + probs.map(([l, p]) => (TYPE_NAMES[l] || l) + " " + pct(p)).join(" · ")));
    }
    if (!parts.length) parts.push(node("div", "meta", "无"));
    el.why.replaceChildren(...parts);
  }

  // ------------------------------------------------------------------ actions
  async function copyAnswer(i) {
    const a = current && current.answers && current.answers[i];
    if (!a) return;
    const value = a.answer || "";
    try {
      await navigator.clipboard.writeText(value);
    } catch (e) {          // clipboard API refused (no permission, not focused): legacy path
      const t = document.createElement("textarea");
      t.value = value;
      t.setAttribute("readonly", "");
      t.className = "offscreen";
      document.body.appendChild(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    if (chosenAnswer == null) markHelpful(i, false);   // copying an answer means the agent used it
    setStatus("已复制第 " + (i + 1) + " 条答案");
  }

  function markHelpful(i, toggle) {
    const a = current && current.answers && current.answers[i];
    if (!a) return;
    chosenAnswer = toggle && chosenAnswer === a.id ? null : a.id;
    el.answers.querySelectorAll(":scope > li").forEach((li) => {
      const on = li.dataset.id === chosenAnswer;
      li.classList.toggle("chosen", on);
      const b = li.querySelector("button.helped");
      if (b) { b.setAttribute("aria-pressed", String(on)); b.textContent = on ? "✓ 有帮助" : "有帮助"; }
    });
  }

  function setDeptError(msg) {
    el.deptError.textContent = msg;
    el.deptError.hidden = !msg;
    if (msg) el.department.setAttribute("aria-invalid", "true");
    else el.department.removeAttribute("aria-invalid");
  }

  async function accept() {
    if (!current || el.accept.disabled) return;
    const department = el.department.value.trim();
    if (!department) { setDeptError("请填写承办部门"); el.department.focus(); return; }
    if (knownDepartments.size && !knownDepartments.has(department)) {
      setDeptError("「" + department + "」不在部门列表中");
      el.department.focus();
      return;
    }
    setDeptError("");
    const predicted = { type: current.type && current.type.label, department: current.department && current.department.label };
    const body = {
      request_id: current.request_id,
      text: el.text.value.trim() || current.text,
      predicted_type: predicted.type || null,
      predicted_department: predicted.department || null,
      type: el.type.value || null,
      department,
      answer_id: chosenAnswer,
    };
    if (current.region) body.region = current.region;
    if (channel) body.channel = channel;
    el.accept.disabled = true;
    el.saved.textContent = "保存中…";
    try {
      await call("POST", "/v1/feedback", body);
      const fixed = [];
      if (body.type !== body.predicted_type) fixed.push("类型");
      if (body.department !== body.predicted_department) fixed.push("部门");
      el.saved.textContent = fixed.length ? "✓ 已保存（已更正" + fixed.join("、") + "）" : "✓ 已保存";
    } catch (err) {
      el.saved.textContent = "";
      showNotice("保存失败：" + err.message + "。内容未丢失，请稍后再按确认。", "error");
    } finally {
      el.accept.disabled = false;
    }
  }

  function clearText() {
    el.text.focus();
    // execCommand keeps the browser's undo stack, so Ctrl+Z brings the text back.
    el.text.select();
    if (!document.execCommand("delete")) el.text.value = "";
    schedule(0);
  }

  async function loadDepartments() {
    try {
      const data = await call("GET", "/v1/departments");
      const names = (data.departments || []).map((d) => (typeof d === "string" ? d : d.name)).filter(Boolean);
      knownDepartments = new Set(names);
      replyDays = new Map((data.departments || []).filter((d) => d && d.name && d.reply_days != null)
        .map((d) => [d.name, d.reply_days]));
      el.departments.replaceChildren(...names.map((name) => { const o = node("option"); o.value = name; return o; }));
      $("regions").replaceChildren(...(data.regions || []).map((name) => { const o = node("option"); o.value = name; return o; }));
    } catch (e) { /* optional: the lists only help typing and checking */ }
  }

  // ------------------------------------------------------------------ wiring
  el.text.addEventListener("input", (e) => { if (!e.isComposing) schedule(); });
  el.text.addEventListener("compositionend", () => schedule());
  el.region.addEventListener("change", () => schedule(0));
  el.department.addEventListener("input", () => { userDept = el.department.value; setDeptError(""); markCorrections(); });
  el.type.addEventListener("change", () => { userType = el.type.value; markCorrections(); });
  el.clear.addEventListener("click", clearText);
  el.accept.addEventListener("click", accept);
  el.retryNow.addEventListener("click", () => { clearTimeout(retryTimer); retryTimer = null; analyze(); });
  document.addEventListener("keydown", (e) => {
    if (e.isComposing) return;
    if (e.altKey && !e.ctrlKey && e.code === "KeyK") { e.preventDefault(); el.text.focus(); }
    else if (e.altKey && !e.ctrlKey && ["Digit1", "Digit2", "Digit3"].includes(e.code)) {
      e.preventDefault();
      copyAnswer(Number(e.code.slice(-1)) - 1);
    }
    else if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); accept(); }
    // Esc clears only from the note itself; elsewhere it keeps its usual meaning
    // (closing a suggestion list) and never throws the agent's notes away.
    else if (e.key === "Escape" && e.target === el.text && el.text.value) { e.preventDefault(); clearText(); }
  });
  loadDepartments();
  el.text.focus();
})();
