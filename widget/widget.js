/* 12345 agent sidebar: calls POST /v1/analyze while the agent types, posts
 * POST /v1/feedback when the agent accepts or corrects. Self-contained, no CDN. */
(function () {
  "use strict";

  const DEBOUNCE_MS = 300;
  const RETRY_MS = [1000, 2000, 4000, 8000];
  const TIMEOUT_MS = 5000;
  const TYPE_NAMES = { consult: "咨询", complaint: "投诉", fault: "故障报修", other: "其他", suggestion: "建议" };

  const $ = (id) => document.getElementById(id);
  const el = {
    text: $("text"), region: $("region"), clear: $("clear"), status: $("status"), notice: $("notice"),
    routing: $("routing"), review: $("review"), type: $("type"), typeConf: $("type-conf"),
    department: $("department"), departments: $("departments"), deptConf: $("dept-conf"),
    deadline: $("deadline"), top3: $("top3"), accept: $("accept"), saved: $("saved"),
    answersCard: $("answers-card"), answers: $("answers"), casesCard: $("cases-card"), cases: $("cases"),
    whyCard: $("why-card"), why: $("why"),
  };

  // Same-origin: the server puts the key in a meta tag of the page it serves.
  const meta = document.querySelector('meta[name="hotline-key"]');
  const apiKey = (meta && meta.content) || new URLSearchParams(location.search).get("key") || "";

  let seq = 0;            // sequence number of the newest request sent
  let shownSeq = 0;       // sequence number of the response on screen
  let timer = null;
  let retryTimer = null;
  let retries = 0;
  let current = null;     // the analyze response on screen
  let chosenAnswer = null;

  function headers() {
    const h = { "Content-Type": "application/json" };
    if (apiKey) h.Authorization = "Bearer " + apiKey;
    return h;
  }

  async function post(path, body) {
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const r = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body),
        credentials: "same-origin", signal: ctrl.signal });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) {
        const err = new Error(data.detail || data.title || ("HTTP " + r.status));
        err.status = r.status;
        throw err;
      }
      return data;
    } finally {
      clearTimeout(t);
    }
  }

  function setStatus(text, busy) {
    el.status.textContent = text;
    el.status.classList.toggle("busy", !!busy);
  }

  function showNotice(text, calm) {
    el.notice.textContent = text;
    el.notice.classList.toggle("calm", !!calm);
    el.notice.hidden = !text;
  }

  function schedule() {
    clearTimeout(timer);
    clearTimeout(retryTimer);
    retries = 0;
    timer = setTimeout(analyze, DEBOUNCE_MS);
  }

  async function analyze() {
    const text = el.text.value.trim();
    if (!text) { render(null); setStatus("就绪"); showNotice(""); return; }
    const mySeq = ++seq;
    setStatus("分析中…", true);
    try {
      const body = { text: text };
      if (el.region.value.trim()) body.region = el.region.value.trim();
      const data = await post("/v1/analyze", body);
      if (mySeq < shownSeq || mySeq !== seq) return;   // an older response arrived late: ignore it
      shownSeq = mySeq;
      retries = 0;
      showNotice("");
      setStatus("已更新 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }));
      render(data);
    } catch (err) {
      if (mySeq !== seq) return;
      if (err.status === 400) {            // the text itself is unusable: say so, no retry
        showNotice("无法分析这段内容：" + err.message);
        setStatus("就绪");
        return;
      }
      const wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
      retries += 1;
      showNotice("服务暂时没有响应，" + Math.round(wait / 1000) + " 秒后自动重试。您可以继续记录。", true);
      setStatus("等待重试", false);
      retryTimer = setTimeout(analyze, wait);
    }
  }

  function pct(x) { return (x == null) ? "" : Math.round(x * 100) + "%"; }

  function highlight(text, words) {
    const frag = document.createDocumentFragment();
    const list = (words || []).filter((w) => w && w.length).sort((a, b) => b.length - a.length);
    if (!list.length) { frag.appendChild(document.createTextNode(text)); return frag; }
    const escaped = list.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const re = new RegExp("(" + escaped.join("|") + ")", "g");
    let last = 0;
    text.replace(re, (m, _g, idx) => {
      if (idx > last) frag.appendChild(document.createTextNode(text.slice(last, idx)));
      const mark = document.createElement("mark");
      mark.textContent = m;
      frag.appendChild(mark);
      last = idx + m.length;
      return m;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  function render(data) {
    current = data;
    chosenAnswer = null;
    el.saved.textContent = "";
    const has = !!data;
    el.routing.hidden = !has;
    el.answersCard.hidden = !has;
    el.casesCard.hidden = !(has && (data.similar_cases || []).length);
    el.whyCard.hidden = !has;
    if (!has) return;
    renderRouting(data);
    renderAnswers(data.answers || []);
    renderCases(data.similar_cases || []);
    renderWhy(data.evidence || {});
  }

  function renderRouting(data) {
    const type = data.type || {};
    const dept = data.department || {};
    const review = !!data.needs_review;
    el.review.hidden = !review;
    el.routing.classList.toggle("needs-review", review);
    const labels = Object.keys(type.probs || {}).length ? Object.keys(type.probs) : [type.label];
    el.type.replaceChildren(...labels.filter(Boolean).map((l) => {
      const o = node("option", null, TYPE_NAMES[l] || l);
      o.value = l;
      return o;
    }));
    el.type.value = type.label || "";
    el.typeConf.textContent = pct(type.confidence);
    el.typeConf.classList.toggle("low", review);
    el.department.value = dept.label || "";
    el.deptConf.textContent = pct(dept.confidence);
    el.deptConf.classList.toggle("low", review);
    const days = dept.reply_days != null ? dept.reply_days : data.reply_days;
    el.deadline.textContent = data.reply_deadline
      ? data.reply_deadline + (days != null ? "（" + days + " 天内答复）" : "")
      : (days != null ? days + " 天内答复" : "—");
    el.top3.replaceChildren(...(dept.top3 || []).map((c) => {
      const li = node("li");
      const b = node("button", null, c.label + " " + pct(c.prob));
      b.type = "button";
      b.setAttribute("aria-label", "改派到 " + c.label);
      b.addEventListener("click", () => { el.department.value = c.label; el.department.focus(); });
      li.appendChild(b);
      return li;
    }));
  }

  function renderAnswers(answers) {
    el.answers.replaceChildren(...answers.map((a, i) => {
      const li = node("li");
      li.dataset.id = a.id;
      const hl = a.highlights || {};
      const q = node("div", "q");
      q.appendChild(highlight(a.question || "", hl.question));
      const metaText = [a.id, (a.department || []).join("、"), a.region, "相关度 " + pct(a.score)]
        .filter(Boolean).join(" · ");
      const body = node("div", "a collapsed");
      body.id = "answer-" + i;
      body.appendChild(highlight(a.answer || "", hl.answer));
      const actions = node("div", "actions");
      const expand = node("button", null, "展开");
      expand.type = "button";
      expand.setAttribute("aria-expanded", "false");
      expand.setAttribute("aria-controls", body.id);
      expand.addEventListener("click", () => {
        const open = body.classList.toggle("collapsed") === false;
        expand.textContent = open ? "收起" : "展开";
        expand.setAttribute("aria-expanded", String(open));
      });
      const copy = node("button", null, "复制答案");
      copy.type = "button";
      copy.setAttribute("aria-label", "复制第 " + (i + 1) + " 条答案 (Alt+" + (i + 1) + ")");
      copy.addEventListener("click", () => copyAnswer(i));
      const helped = node("button", null, "有帮助");
      helped.type = "button";
      helped.setAttribute("aria-pressed", "false");
      helped.addEventListener("click", () => markHelpful(i));
      actions.append(expand, copy, helped);
      li.append(q, node("div", "meta", metaText), body, actions);
      return li;
    }));
    if (!answers.length) el.answers.replaceChildren(node("li", "meta", "知识库中没有找到相关答案"));
  }

  function renderCases(cases) {
    el.cases.replaceChildren(...cases.map((c) => {
      const li = node("li");
      li.append(node("div", null, c.text || c.title || ""),
        node("div", "meta", [TYPE_NAMES[c.type] || c.type, c.department, c.score != null ? "相似度 " + pct(c.score) : ""]
          .filter(Boolean).join(" · ")));
      return li;
    }));
  }

  function chips(title, items) {
    const wrap = node("div");
    wrap.appendChild(node("div", "meta", title));
    const box = node("div", "chips");
    items.forEach((w) => box.appendChild(node("span", "chip", w)));
    wrap.appendChild(box);
    return wrap;
  }

  function renderWhy(ev) {
    const parts = [];
    const words = (ev.words || []).map((w) => (typeof w === "string" ? w : w.term || w.word || ""));
    if (words.length) parts.push(chips("关键词", words.filter(Boolean)));
    const kws = (ev.keywords || ev.department_keywords || []).map((k) => (typeof k === "string" ? k : k.keyword || ""));
    if (kws.length) parts.push(chips("匹配部门职责", kws.filter(Boolean)));
    if (!parts.length) parts.push(node("div", "meta", "无"));
    el.why.replaceChildren(...parts);
  }

  async function copyAnswer(i) {
    if (!current || !current.answers || !current.answers[i]) return;
    const text = current.answers[i].answer || "";
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {          // clipboard API refused (e.g. not focused): fall back to a hidden textarea
      const t = document.createElement("textarea");
      t.value = text;
      document.body.appendChild(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    setStatus("已复制第 " + (i + 1) + " 条答案");
  }

  function markHelpful(i) {
    chosenAnswer = current && current.answers[i] ? current.answers[i].id : null;
    el.answers.querySelectorAll("li").forEach((li, j) => {
      li.classList.toggle("chosen", j === i);
      const b = li.querySelector(".actions button:last-child");
      if (b) b.setAttribute("aria-pressed", String(j === i));
    });
  }

  async function accept() {
    if (!current) return;
    const body = {
      request_id: current.request_id,
      text: el.text.value.trim(),
      predicted_type: current.type && current.type.label,
      predicted_department: current.department && current.department.label,
      type: el.type.value,
      department: el.department.value.trim(),
      answer_id: chosenAnswer,
    };
    el.accept.disabled = true;
    try {
      await post("/v1/feedback", body);
      const corrected = body.type !== body.predicted_type || body.department !== body.predicted_department;
      el.saved.textContent = corrected ? "已保存（已更正）" : "已保存";
    } catch (err) {
      el.saved.textContent = "";
      showNotice("保存失败：" + err.message + "。请稍后再试。");
    } finally {
      el.accept.disabled = false;
    }
  }

  async function loadDepartments() {
    try {
      const r = await fetch("/v1/departments", { headers: headers(), credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json();
      el.departments.replaceChildren(...(data.departments || []).map((d) => {
        const o = node("option");
        o.value = d.name || d;
        return o;
      }));
      const regions = data.regions || [];
      $("regions").replaceChildren(...regions.map((name) => { const o = node("option"); o.value = name; return o; }));
    } catch (e) { /* optional: the list only helps typing */ }
  }

  el.text.addEventListener("input", schedule);
  el.region.addEventListener("change", schedule);
  el.clear.addEventListener("click", () => { el.text.value = ""; schedule(); el.text.focus(); });
  el.accept.addEventListener("click", accept);
  document.addEventListener("keydown", (e) => {
    if (e.altKey && (e.key === "k" || e.key === "K")) { e.preventDefault(); el.text.focus(); }
    else if (e.altKey && ["1", "2", "3"].includes(e.key)) { e.preventDefault(); copyAnswer(Number(e.key) - 1); }
    else if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); accept(); }
    else if (e.key === "Escape") { el.text.value = ""; schedule(); el.text.focus(); }
  });
  loadDepartments();
  el.text.focus();
})();
