/* 12345 agent sidebar: calls POST /v1/analyze while the agent types, posts
 * POST /v1/feedback when the agent accepts or corrects. Self-contained, no CDN.
 * Auth: the agent signs in with their key (POST /v1/session), which sets an HttpOnly,
 * SameSite=Strict session cookie; the page never keeps the key. GET /v1/session says
 * whether a session exists, DELETE /v1/session signs out. */
(function () {
  "use strict";

  const DEBOUNCE_MS = 300;
  const SLOW_MS = 1500;                     // after this a pending call says "please wait"
  const TIMEOUT_MS = 8000;
  const RETRY_MS = [1000, 2000, 4000, 8000];
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
    app: $("app"), signin: $("signin"), signinForm: $("signin-form"), signinKey: $("signin-key"),
    signinError: $("signin-error"), signinSubmit: $("signin-submit"), signOut: $("sign-out"),
    incident: $("incident-card"), incidentSummary: $("incident-summary"), incidentNote: $("incident-note"),
    incidentOrder: $("incident-order"), incidentLink: $("incident-link"),
    incidentNotSame: $("incident-not-same"), incidentSaved: $("incident-saved"),
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
  let signedIn = false;
  let linkedIncident = null;              // the incident this call was linked to (one order per call)
  const ROLE_NAMES = { agent: "坐席", editor: "编辑", admin: "管理员" };

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
      linkedIncident = null;
      window.HotlineDispatch.reset();
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
    if (err.status === 401) {             // expired, signed out elsewhere, or key revoked
      showSignIn("登录已失效，请重新登录。已记录的内容会保留。");
      return;
    }
    if (err.status === 403) {
      showNotice("当前密钥无权进行此操作：" + err.message, "error");
      setStatus("就绪");
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
  const R = window.HotlineRender;
  const { pct, node } = R;

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
    renderIncident(has ? data.incident : null);
    if (!has) return;
    renderRouting(data);
    window.HotlineDispatch.render(data);
    renderAnswers(data.answers || []);
    el.cases.replaceChildren(...(data.similar_cases || []).map(R.caseItem));
    el.why.replaceChildren(...R.whyParts(data.evidence || {}, data.type || {}));
  }

  function renderRouting(data) {
    const type = data.type || {};
    const dept = data.department || {};
    const review = !!data.needs_review;
    el.review.hidden = !review;
    el.reviewWhy.textContent = review ? R.reviewReason(data) : "";
    el.routing.classList.toggle("needs-review", review);
    el.type.replaceChildren(...R.typeOptions(type, data.review_reasons));
    el.type.value = userType || type.label || "";
    el.typeConf.classList.toggle("low", type.confidence < 0.5);
    el.department.value = userDept != null ? userDept : suggestedDept(data);
    el.deptConf.classList.toggle("low", review || dept.confidence < 0.5);
    markCorrections();
    el.top3.replaceChildren(...(dept.top3 || []).map((c) => {
      const li = node("li");
      const b = R.button(c.label + " " + pct(c.prob), "改派到 " + c.label + "（" + pct(c.prob) + "）");
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

  // The suggested 承办部门: the lead department (the caller's main or first issue,
  // docs/dispatch.md), which for a single-issue call is the classifier's department.
  function suggestedDept(data) {
    const lead = data && data.departments && data.departments.lead;
    return (lead && lead.name) || (data && data.department && data.department.label) || "";
  }

  // Show, next to each field, whether the agent has overridden the suggestion.
  function markCorrections() {
    if (!current) return;
    const type = current.type || {}, dept = current.department || {};
    const typeFixed = el.type.value !== (type.label || "");
    const deptFixed = el.department.value.trim() !== suggestedDept(current);
    el.typeConf.textContent = typeFixed ? (type.label ? "已更正（原 " + R.typeName(type.label) + "）" : "已选择")
      : (type.label ? "把握度 " + pct(type.confidence) : "未判断");
    el.deptConf.textContent = deptFixed ? "已改派" : "把握度 " + pct(dept.confidence);
    el.typeConf.classList.toggle("fixed", typeFixed);
    el.deptConf.classList.toggle("fixed", deptFixed);
    el.type.classList.toggle("fixed", typeFixed);
    el.department.classList.toggle("fixed", deptFixed);
    const days = deptFixed ? replyDays.get(el.department.value.trim()) : undefined;
    el.deadline.textContent = days != null
      ? R.formatDeadline(days, R.addWorkingDays(new Date(), days)) + " · 按改派部门"
      : R.formatDeadline(current.reply_days, current.reply_deadline);
  }

  function renderAnswers(answers) {
    el.answers.replaceChildren(...(answers.length
      ? answers.map((a, i) => R.answerItem(a, i, { copy: copyAnswer, helped: (j) => markHelpful(j, true) }))
      : [node("li", "meta empty", "知识库中没有找到相关答案")]));
  }

  // ------------------------------------------------------------------ incident
  // "已有 N 位来电反映此问题（首次 HH:MM）": analysing records nothing; the agent
  // links the call (POST /v1/incidents/{id}/link records it as an order there) or
  // says it is not the same (never proposed for this text again).
  function clock(iso) {
    const d = new Date(iso);
    const hm = d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });
    const today = new Date().toDateString() === d.toDateString();
    return today ? hm : (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
  }

  function renderIncident(inc) {
    const linked = !!(inc && linkedIncident && linkedIncident.id === inc.id);
    el.incident.hidden = !inc;
    el.incident.classList.toggle("linked", linked);
    el.incidentSaved.textContent = "";
    if (!inc) return;
    const size = linked ? Math.max(inc.size, linkedIncident.size) : inc.size;
    el.incident.dataset.id = String(inc.id);
    el.incidentSummary.textContent = (linked ? "✓ 已关联：共 " + size + " 位来电反映此问题"
      : "已有 " + size + " 位来电反映此问题") + "（首次 " + clock(inc.first_seen) + "）";
    el.incidentNote.hidden = !inc.note;
    el.incidentNote.textContent = inc.note ? "最新备注：" + inc.note : "";
    const order = inc.last_order;
    el.incidentOrder.hidden = !order;
    el.incidentOrder.textContent = order ? "关联工单 #" + order.id + "（" + clock(order.time) + "）：" + order.text : "";
    el.incidentLink.hidden = linked;
    el.incidentNotSame.hidden = linked;
    el.incidentLink.title = "置信度 " + pct(inc.confidence);
  }

  async function incidentAction(kind) {
    const inc = current && current.incident;
    if (!inc) return;
    const text = el.text.value.trim() || current.text;
    const body = kind === "link"
      ? { text, type: el.type.value || null, department: el.department.value.trim() || null }
      : { text };
    if (kind === "link" && current.region) body.region = current.region;
    el.incidentLink.disabled = el.incidentNotSame.disabled = true;
    el.incidentSaved.textContent = "保存中…";
    try {
      const data = await call("POST", "/v1/incidents/" + inc.id + "/" + kind, body);
      if (kind === "link") {
        linkedIncident = { id: inc.id, size: data.incident.size };
        current.incident = Object.assign({}, inc, data.incident, { confidence: inc.confidence });
        renderIncident(current.incident);
        setStatus("已关联事件 #" + inc.id);
      } else {
        current.incident = null;
        renderIncident(null);
        setStatus("已标记：不是同一问题");
      }
    } catch (err) {
      el.incidentSaved.textContent = "";
      if (err.status === 401) showSignIn("登录已失效，请重新登录。已记录的内容会保留。");
      else showNotice("操作失败：" + err.message, "error");
    } finally {
      el.incidentLink.disabled = el.incidentNotSame.disabled = false;
    }
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
    // Lead (主办) = the department above; the co-handlers (协办) the agent kept or
    // added, beside the suggested ones, so corrections of both are stored.
    const suggested = current.departments;
    if (suggested) {
      body.predicted_lead_department = (suggested.lead && suggested.lead.name) || null;
      body.predicted_co_departments = (suggested.co || []).map((c) => c.name);
      body.co_departments = window.HotlineDispatch.value().co.filter((c) => c !== department);
    }
    if (current.region) body.region = current.region;
    if (channel) body.channel = channel;
    el.accept.disabled = true;
    el.saved.textContent = "保存中…";
    try {
      await call("POST", "/v1/feedback", body);
      const fixed = [];
      if (body.type !== body.predicted_type) fixed.push("类型");
      if (body.department !== suggestedDept(current)) fixed.push("部门");
      const co = body.co_departments || [];
      el.saved.textContent = (fixed.length ? "✓ 已保存（已更正" + fixed.join("、") + "）" : "✓ 已保存")
        + (co.length ? " · 协办：" + co.join("、") : "");
    } catch (err) {
      el.saved.textContent = "";
      if (err.status === 401) showSignIn("登录已失效，请重新登录后再按确认。已记录的内容会保留。");
      else showNotice("保存失败：" + err.message + "。内容未丢失，请稍后再按确认。", "error");
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
      window.HotlineDispatch.setKnown(names);
      el.departments.replaceChildren(...names.map((name) => { const o = node("option"); o.value = name; return o; }));
      $("regions").replaceChildren(...(data.regions || []).map((name) => { const o = node("option"); o.value = name; return o; }));
    } catch (e) { /* optional: the lists only help typing and checking */ }
  }

  // ------------------------------------------------------------------ session
  function showApp(info) {
    signedIn = true;
    el.signin.hidden = true;
    el.app.hidden = false;
    el.signOut.hidden = false;
    el.signOut.setAttribute("aria-label", "退出登录（" + (ROLE_NAMES[info.role] || info.role) + "）");
    setStatus("已登录 · " + (ROLE_NAMES[info.role] || info.role));
    showNotice("");
    loadDepartments();
    el.text.focus();
    if (el.text.value.trim()) schedule(0);   // signed in again: pick up where the agent was
  }

  function showSignIn(message) {
    signedIn = false;
    clearTimeout(timer); clearTimeout(retryTimer); clearTimeout(slowTimer);
    retryTimer = null;
    finishCall();
    showNotice("");
    el.app.hidden = true;
    el.signOut.hidden = true;
    el.signin.hidden = false;
    setSignInError(message || "");
    setStatus("未登录");
    el.signinKey.focus();
  }

  function setSignInError(msg) {
    el.signinError.textContent = msg;
    el.signinError.hidden = !msg;
    if (msg) el.signinKey.setAttribute("aria-invalid", "true");
    else el.signinKey.removeAttribute("aria-invalid");
  }

  async function signIn(e) {
    e.preventDefault();
    const key = el.signinKey.value.trim();
    if (!key) { setSignInError("请输入密钥"); el.signinKey.focus(); return; }
    el.signinKey.value = "";                 // the page never keeps the key
    el.signinSubmit.disabled = true;
    setSignInError("");
    setStatus("登录中…", true);
    try {
      showApp(await call("POST", "/v1/session", { key }));
    } catch (err) {
      setStatus("未登录");
      setSignInError(err.status === 401 ? "密钥无效，请检查后重试。"
        : err.status === 429 ? "尝试次数过多，请 " + Math.max(1, Math.round(err.retryAfter || 60)) + " 秒后再试。"
        : err.status ? "登录失败：" + err.message : "服务暂时没有响应，请稍后重试。");
      el.signinKey.focus();
    } finally {
      el.signinSubmit.disabled = false;
    }
  }

  async function signOut() {
    try { await call("DELETE", "/v1/session"); } catch (e) { /* the cookie expires anyway */ }
    // End of shift: nothing of the last call stays on screen.
    el.text.value = "";
    el.region.value = "";
    seq += 1; shownSeq = seq;
    userType = userDept = null;
    linkedIncident = null;
    window.HotlineDispatch.reset();
    render(null);
    showSignIn("");
  }

  async function checkSession() {
    try {
      showApp(await call("GET", "/v1/session"));
    } catch (err) {
      showSignIn(err.status === 401 ? ""
        : err.status === 429 ? "请求过于频繁，请 " + Math.max(1, Math.round(err.retryAfter || 60)) + " 秒后刷新本页面。"
        : "服务暂时没有响应，请稍后重试登录。");
    }
  }

  // ------------------------------------------------------------------ wiring
  el.text.addEventListener("input", (e) => { if (!e.isComposing) schedule(); });
  el.text.addEventListener("compositionend", () => schedule());
  el.region.addEventListener("change", () => schedule(0));
  el.department.addEventListener("input", () => {
    userDept = el.department.value; setDeptError(""); markCorrections();
    window.HotlineDispatch.setLead(userDept.trim());
  });
  // Picking another lead (主办) is a correction of the department that handles the order.
  window.HotlineDispatch.onLead((name) => { el.department.value = userDept = name; setDeptError(""); markCorrections(); });
  el.type.addEventListener("change", () => { userType = el.type.value; markCorrections(); });
  el.clear.addEventListener("click", clearText);
  el.accept.addEventListener("click", accept);
  el.incidentLink.addEventListener("click", () => incidentAction("link"));
  el.incidentNotSame.addEventListener("click", () => incidentAction("not-same"));
  el.retryNow.addEventListener("click", () => { clearTimeout(retryTimer); retryTimer = null; analyze(); });
  el.signinForm.addEventListener("submit", signIn);
  el.signOut.addEventListener("click", signOut);
  document.addEventListener("keydown", (e) => {
    if (e.isComposing || !signedIn) return;
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
  checkSession();
})();
