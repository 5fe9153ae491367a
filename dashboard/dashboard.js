/* Analysts' dashboard (docs/dashboard.md): open incidents, hot spots by district, trends and
 * reclassification change reports, from the read-only /v1 endpoints. Plain JS, no framework.
 * Auth as the widget: POST /v1/session exchanges a key for an HttpOnly session cookie once;
 * the page never keeps the key. 401 brings the sign-in form back, 403 says the key may not. */
(function () {
  "use strict";
  const REFRESH_MS = 10000;        // open incidents; aggregates and reports every third round
  const SLOW_EVERY = 3;
  const $ = (id) => document.getElementById(id);
  const el = {
    app: $("app"), signin: $("signin"), signinForm: $("signin-form"), signinKey: $("signin-key"),
    signinError: $("signin-error"), signinSubmit: $("signin-submit"), signOut: $("sign-out"),
    status: $("status"), openRows: $("open-rows"), openCount: $("open-count"),
    openEmpty: $("open-empty"), openTable: $("open-table"), detail: $("detail"),
    openFilter: $("open-filter"), openFilterName: $("open-filter-name"),
    openFilterClear: $("open-filter-clear"),
    detailTitle: $("detail-title"), detailMeta: $("detail-meta"), detailOrders: $("detail-orders"),
    detailClose: $("detail-close"), districts: $("districts"), trend: $("trend"),
    totals: $("totals"), byDay: $("by-day"), byHour: $("by-hour"),
    risingProblem: $("rising-problem"), risingDepartment: $("rising-department"),
    changesEmpty: $("changes-empty"), changeSelect: $("change-select"),
    changeSelectLabel: $("change-select-label"), change: $("change"),
    changeSummary: $("change-summary"), changeMoves: $("change-moves"),
    changeShifts: $("change-shifts"),
  };
  // region: the district the open incidents are filtered to ("" = calls without one), null = all
  const state = { timer: null, stats: null, trendBy: "day", selected: null, reports: null, round: 0,
    region: null, openSeq: 0 };

  // ------------------------------------------------------------------ calls
  async function call(method, path, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const data = resp.status === 204 ? null : await resp.json().catch(() => null);
    if (!resp.ok) {
      const err = new Error((data && data.detail) || resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function failed(err) {
    if (err.status === 401) return showSignIn("登录已失效，请重新登录。");
    setStatus(err.status === 403 ? "此密钥无权查看看板（需坐席及以上角色）"
      : "服务暂时没有响应，稍后自动重试");
  }

  function setStatus(text) { el.status.textContent = text; }

  // ------------------------------------------------------------------ helpers
  function node(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else n.setAttribute(k, v);
    }
    for (const c of children) if (c != null) n.append(c);
    return n;
  }
  const pad = (n) => String(n).padStart(2, "0");
  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // ------------------------------------------------------------------ open incidents
  async function refreshOpen() {
    // the server filters (a district's incidents are all there even past 500 open in all);
    // a slower answer for a filter the analyst has since changed is dropped
    const seq = ++state.openSeq;
    const region = state.region;
    const data = await call("GET", "/v1/incidents?status=open&limit=500"
      + (region === null ? "" : `&region=${encodeURIComponent(region)}`));
    if (seq !== state.openSeq) return false;
    const items = data.items.slice().sort((a, b) => b.size - a.size
      || String(b.last_seen).localeCompare(String(a.last_seen)));
    const signature = items.map((i) => `${i.id}:${i.size}`).join(",");
    const changed = state.openSignature !== undefined && signature !== state.openSignature;
    state.openSignature = signature;
    el.openCount.textContent = `（${items.length} 起）`;
    el.openFilter.hidden = region === null;
    el.openFilterName.textContent = region === null ? "" : districtName(region);
    el.openEmpty.textContent = region === null ? "暂无未结事件。" : "该区暂无未结事件。";
    el.openEmpty.hidden = items.length > 0;
    el.openTable.hidden = items.length === 0;
    el.openRows.replaceChildren(...items.map((inc) => {
      const tr = node("tr", { tabindex: "0", "data-id": String(inc.id),
        "aria-label": `事件 ${inc.id}，${inc.size} 位来电，查看来电`,
        "aria-current": String(state.selected === inc.id) },
        node("td", { class: "size" + (inc.size > 2 ? " hot" : ""), text: String(inc.size) }),
        node("td", { class: "when", "data-label": "首次 / 最近", text: `${when(inc.first_seen)} / ${when(inc.last_seen)}` }),
        node("td", { class: "region", "data-label": "区域", text: inc.region || "—" }),
        node("td", { class: "dept", "data-label": "承办部门", text: inc.department || "—" }),
        inc.note ? node("td", { class: "note", "data-label": "最新备注", text: inc.note })
          : node("td", { class: "note example", "data-label": "最新来电",   // no note yet
            text: (inc.examples[0] && inc.examples[0].text) || "—" }));
      tr.addEventListener("click", () => showDetail(inc.id));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") showDetail(inc.id); });
      return tr;
    }));
    return changed;
  }

  async function showDetail(id) {
    state.selected = id;
    for (const tr of el.openRows.children) tr.setAttribute("aria-current", String(tr.dataset.id === String(id)));
    try {
      const inc = await call("GET", `/v1/incidents/${id}`);
      el.detailTitle.textContent = `事件 #${inc.id}：${inc.size} 位来电`;
      el.detailMeta.textContent = [inc.region, inc.department, inc.type,
        `首次 ${when(inc.first_seen)}`, `最近 ${when(inc.last_seen)}`,
        `窗口至 ${when(inc.closes_at)}`].filter(Boolean).join(" · ");
      el.detailOrders.replaceChildren(...inc.orders.map((o) => node("li", null,
        node("div", { text: o.text }),
        node("div", { class: "meta", text: [`#${o.id}`, when(o.time), o.region, o.department,
          o.note && `备注：${o.note}`].filter(Boolean).join(" · ") }))));
      el.detail.hidden = false;
      el.detail.scrollIntoView({ block: "nearest" });
    } catch (err) { failed(err); }
  }

  // ------------------------------------------------------------------ stats
  async function refreshStats() {
    const tz = -new Date().getTimezoneOffset();
    state.stats = await call("GET", `/v1/incidents/stats?days=7&tz=${tz}`);
    renderDistricts(state.stats.districts);
    renderTrend();
    renderRising(el.risingProblem, state.stats.rising.problem, (r) => r.label || r.key);
    renderRising(el.risingDepartment, state.stats.rising.department, (r) => r.key);
    const t = state.stats.totals;
    el.totals.textContent = `近 7 天 ${t.reports} 条来电（前 7 天 ${t.reports_previous} 条）；` +
      `未结事件 ${t.open_incidents} 起，涉及 ${t.open_reports} 条来电`;
  }

  const districtName = (region) => region || "未填区域";

  // Heat 0 (no open incident) to 4 (the district with most calls in open incidents): the
  // tile's colour; counts in words on the tile, so the colour is never the only cue.
  function heat(openReports, max) {
    return openReports > 0 ? 1 + Math.min(3, Math.floor(4 * openReports / max)) : 0;
  }

  function renderDistricts(rows) {
    const max = Math.max(1, ...rows.map((r) => r.open_reports));
    el.districts.replaceChildren(...rows.map((r, i) => {
      const region = r.region || "";
      const busiest = i === 0 && r.open_reports > 0;
      const tile = node("button", { type: "button", class: "tile",
        "aria-pressed": String(state.region === region),
        "aria-label": `${districtName(r.region)}：未结事件 ${r.open_incidents} 起，` +
          `${r.open_reports} 条来电；近 7 天 ${r.reports} 条。点击筛选未结事件` },
        node("span", { class: "name" }, districtName(r.region),
          busiest ? node("span", { class: "badge", text: "最多" }) : null),
        node("span", { class: "num" }, String(r.open_incidents),
          node("span", { class: "unit", text: " 起未结" })),
        node("span", { class: "counts" },   // phrases that wrap whole
          node("span", { text: `${r.open_reports} 条来电` }), " · ",
          node("span", { text: `多人反映 ${r.multi_report} 起` }), " · ",
          node("span", { text: `近 7 天 ${r.reports} 条` })));
      tile.addEventListener("click", () => filterRegion(state.region === region ? null : region));
      return node("li", { class: `heat-${heat(r.open_reports, max)}` + (busiest ? " busiest" : ""),
        "data-region": region, "data-heat": String(heat(r.open_reports, max)) }, tile);
    }));
  }

  async function filterRegion(region) {
    state.region = region;
    for (const li of el.districts.children) {
      li.firstChild.setAttribute("aria-pressed", String(li.dataset.region === region));
    }
    try {
      await refreshOpen();
      // on a phone the list is above the grid: bring it back into view
      if (region !== null) el.openFilter.scrollIntoView({ block: "nearest" });
    } catch (err) { failed(err); }
  }

  function renderTrend() {
    if (!state.stats) return;
    const byDay = state.trendBy === "day";
    const series = byDay ? state.stats.per_day : state.stats.per_hour;
    const max = Math.max(1, ...series.map((s) => s.reports));
    const W = 700, H = 140, base = H - 16, step = W / series.length;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", byDay ? "每天来电数" : "每小时来电数");
    series.forEach((s, i) => {
      const h = (base - 4) * s.reports / max;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", (i * step + step * 0.12).toFixed(2));
      rect.setAttribute("width", Math.max(0.5, step * 0.76).toFixed(2));
      rect.setAttribute("y", (base - h).toFixed(2));
      rect.setAttribute("height", Math.max(0, h).toFixed(2));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${byDay ? s.day : when(s.start)}：${s.reports} 条`;
      rect.append(title);
      svg.append(rect);
    });
    // Axis labels in HTML (an SVG stretched with preserveAspectRatio=none would squash text).
    const labels = byDay ? state.stats.per_day.map((s) => `${s.day.slice(5)}\n${s.reports}`)
      : state.stats.per_day.map((s) => s.day.slice(5));
    const axis = node("div", { class: "axis", style: `display:grid;grid-template-columns:repeat(${labels.length},minmax(0,1fr));font-size:11px;color:var(--muted);text-align:center;white-space:pre-line` },
      ...labels.map((l) => node("span", { text: l })));
    el.trend.replaceChildren(svg, axis);
    el.byDay.setAttribute("aria-pressed", String(byDay));
    el.byHour.setAttribute("aria-pressed", String(!byDay));
  }

  function renderRising(list, rows, name) {
    list.replaceChildren(...(rows.length ? rows.map((r) => node("li", null, `${name(r)} `,
      node("span", { class: "up", text: `↑${r.delta}` }),
      node("span", { class: "muted", text: `（${r.last} → ${r.this}）` })))
      : [node("li", { class: "muted", text: "无明显上升" })]));
  }

  // ------------------------------------------------------------------ change reports
  async function refreshReports() {
    const data = await call("GET", "/v1/reports/changes");
    const ids = data.items.map((r) => r.id).join("\n");
    if (ids === state.reports) return;        // unchanged: keep the analyst's choice
    state.reports = ids;
    el.changesEmpty.hidden = data.items.length > 0;
    el.changeSelect.hidden = el.changeSelectLabel.hidden = data.items.length === 0;
    el.change.hidden = data.items.length === 0;
    el.changeSelect.replaceChildren(...data.items.map((r) => node("option", { value: r.id,
      text: `${r.id}（${when(r.written_at)}，${r.changed}/${r.rows_compared} 变更）` })));
    if (data.items.length) await showReport(data.items[0].id);
  }

  async function showReport(id) {
    const r = await call("GET", `/v1/reports/changes/${encodeURIComponent(id)}`);
    const head = r.head === "department" ? "承办部门" : "诉求类型";
    el.changeSummary.textContent = `${r.id}：比较列「${r.column}」与模型的${head}，` +
      `${r.rows_compared} 行中 ${r.changed} 行改变（${r.changed_pct}%），一致率 ${r.agreement}`;
    el.changeMoves.replaceChildren(...r.transitions.slice(0, 10).map((t) =>
      node("li", { text: `${t.old} → ${t.new}：${t.rows} 行` })));
    el.changeShifts.replaceChildren(...r.shifts.slice(0, 10).map((s) =>
      node("li", { text: `${s.label}：${s.old} → ${s.new}（${s.delta > 0 ? "+" : ""}${s.delta}）` })));
  }

  // ------------------------------------------------------------------ loop
  async function refresh() {
    clearTimeout(state.timer);
    try {
      setStatus("正在刷新…");
      const slow = state.round++ % SLOW_EVERY === 0 || !state.stats;
      if (slow) await Promise.all([refreshOpen(), refreshStats(), refreshReports()]);
      else if (await refreshOpen()) await refreshStats();   // the open incidents changed
      const d = new Date();
      setStatus(`已更新 ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} · 事件每 10 秒刷新`);
    } catch (err) {
      failed(err);
      if (err.status === 401) return;
    }
    if (!el.app.hidden) state.timer = setTimeout(refresh, REFRESH_MS);   // not after sign-out
  }

  // ------------------------------------------------------------------ session
  function showApp() {
    el.signin.hidden = true;
    el.app.hidden = false;
    el.signOut.hidden = false;
    refresh();
  }

  function showSignIn(msg) {
    clearTimeout(state.timer);
    el.app.hidden = true;
    el.signOut.hidden = true;
    el.signin.hidden = false;
    setStatus("未登录");
    el.signinError.textContent = msg || "";
    el.signinError.hidden = !msg;
    el.signinKey.focus();
  }

  el.signinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = el.signinKey.value.trim();
    el.signinKey.value = "";                 // the page never keeps the key
    if (!key) return showSignIn("请输入密钥");
    el.signinSubmit.disabled = true;
    try {
      await call("POST", "/v1/session", { key });
      showApp();
    } catch (err) {
      showSignIn(err.status === 401 ? "密钥无效，请检查后重试。"
        : err.status === 429 ? "尝试次数过多，请稍后再试。" : "登录失败，请稍后重试。");
    } finally { el.signinSubmit.disabled = false; }
  });
  el.signOut.addEventListener("click", async () => {
    try { await call("DELETE", "/v1/session"); } catch (e) { /* the cookie expires anyway */ }
    state.reports = null;
    state.stats = null;
    state.round = 0;
    state.region = null;
    showSignIn("");
  });
  el.openFilterClear.addEventListener("click", () => filterRegion(null));
  el.detailClose.addEventListener("click", () => { el.detail.hidden = true; state.selected = null; });
  el.byDay.addEventListener("click", () => { state.trendBy = "day"; renderTrend(); });
  el.byHour.addEventListener("click", () => { state.trendBy = "hour"; renderTrend(); });
  el.changeSelect.addEventListener("change", () => showReport(el.changeSelect.value).catch(failed));

  call("GET", "/v1/session").then(showApp, (err) =>
    err.status === 401 ? showSignIn("") : failed(err));
})();
