/* carbontwin dashboard: one page, a view per hash (#plant, #flow, #orders, #order/ID,
 * #hotspots, #schedules, #labels). Every request goes to the API this page was served
 * by, with relative URLs, so the page works offline and under any mount prefix.
 * Numbers are formatted like the command line's tables (en-US, 2 decimals for kWh and
 * kg CO2e), and every chart has a table of the same numbers beside it. */
"use strict";

(function () {
  const TOKEN_KEY = "carbontwin.token";
  const view = document.getElementById("view");
  const charts = [];

  // ---------------------------------------------------------------- formatting
  function num(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    return Number(x).toLocaleString("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
  }
  const f2 = (x) => num(x, 2);
  const f4 = (x) => num(x, 4);
  const pct = (x) => (x === null || x === undefined ? "–" : num(x * 100, 1) + " %");
  const pct0 = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + "%");
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }
  function utc(iso) {
    return iso ? iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1 UTC") : "–";
  }

  // ---------------------------------------------------------------- API access
  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    const headers = Object.assign({}, opts.headers || {});
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    opts.headers = headers;
    const r = await fetch(path, opts);
    if (r.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin();
      throw new ApiError("Please log in.", 401);
    }
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try {
        const body = await r.json();
        if (Array.isArray(body.detail)) msg = body.detail.map((d) => d.msg).join("; ");
        else if (body.detail) msg = String(body.detail);
        else if (body.message) msg = body.message;
      } catch (e) { /* not JSON */ }
      throw new ApiError(msg, r.status);
    }
    return r;
  }
  const getJSON = async (path, options) => (await api(path, options)).json();

  // ---------------------------------------------------------------- login
  function showLogin() {
    document.getElementById("login").hidden = false;
    document.getElementById("logout").hidden = true;
  }

  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const id = form.client_id.value;
    const secret = form.client_secret.value;
    const err = document.getElementById("login-error");
    err.textContent = "";
    const r = await fetch("auth/token", {
      method: "POST",
      headers: {
        Authorization: "Basic " + btoa(id + ":" + secret),
        "Content-Type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=client_credentials",
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      err.textContent = body.error_description || body.message || "Login failed (" + r.status + ")";
      if (r.status === 403 && location.protocol === "http:") {
        err.textContent += " — over plain HTTP start the service with --insecure-http (local use).";
      }
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, (await r.json()).access_token);
    document.getElementById("login").hidden = true;
    document.getElementById("logout").hidden = false;
    route();
  });

  document.getElementById("logout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    view.innerHTML = "";
    showLogin();
  });

  // ---------------------------------------------------------------- helpers
  function chart(el, option) {
    const c = echarts.init(el, null, { renderer: "canvas" });
    c.setOption(Object.assign({ animation: false }, option));
    charts.push(c);
    return c;
  }

  function table(columns, rows, attrs) {
    const head = columns.map((c) => `<th class="${c.num ? "num" : ""}">${esc(c.label)}</th>`);
    const body = rows.map((r) => "<tr>" + columns.map((c) => {
      const v = c.value(r);
      const html = c.html ? v : esc(v);
      return `<td class="${c.num ? "num" : ""}" data-col="${esc(c.key || c.label)}">${html}</td>`;
    }).join("") + "</tr>");
    return `<table ${attrs || ""}><thead><tr>${head.join("")}</tr></thead>` +
      `<tbody>${body.join("")}</tbody></table>`;
  }

  function kpis(items) {
    return '<div class="kpis">' + items.map(([k, v, id]) =>
      `<div class="kpi"><div class="v" data-kpi="${esc(id || k)}">${esc(v)}</div>` +
      `<div class="k">${esc(k)}</div></div>`).join("") + "</div>";
  }

  const COLOURS = {
    site: "#4d4d4d", line: "#7f7f7f", machine: "#2f6f4f", meter: "#3a6ea5", utility: "#c17d11",
    material: "#8c6bb1", supplier: "#b15928", product: "#1f9e89", order: "#2f6f4f",
    overhead: "#b3261e", model: "#999999", asset: "#2f6f4f",
  };
  const STATE_COLOURS = {
    OFF: "#d9d9d9", STANDBY: "#9ecae1", IDLE: "#fdae6b", SETUP: "#fdd835",
    PROCESSING: "#31a354", FAULT: "#de2d26",
  };

  // ---------------------------------------------------------------- views
  async function plantView() {
    const g = await getJSON("plant/graph");
    const order = ["meter", "utility", "machine", "line", "site", "product", "material", "supplier"];
    const cols = {};
    order.forEach((k) => { cols[k] = g.nodes.filter((n) => n.kind === k); });
    // machines grouped by their line
    cols.machine.sort((a, b) => (a.parent || "").localeCompare(b.parent || "") || a.id.localeCompare(b.id));
    const nodes = [];
    order.forEach((kind, x) => {
      const list = cols[kind];
      list.forEach((n, i) => {
        nodes.push({
          id: n.id, name: n.id, x: x * 160, y: (i + 0.5) * (600 / Math.max(list.length, 1)),
          category: order.indexOf(kind), value: n.name,
          symbolSize: kind === "machine" || kind === "utility" ? 22 : 16,
          label: { show: true, position: "right", fontSize: 11 },
          tooltip: { formatter: `${esc(n.name)}<br>${esc(kind)}: ${esc(n.id)}` },
        });
      });
    });
    const edgeStyle = {
      contains: { type: "solid", color: "#aaaaaa" }, measures: { type: "dashed", color: "#3a6ea5" },
      serves: { type: "solid", color: "#c17d11" }, flows_to: { type: "dotted", color: "#2f6f4f" },
      consumes: { type: "solid", color: "#8c6bb1" }, supplies: { type: "solid", color: "#b15928" },
    };
    const links = g.edges.map((e) => ({
      source: e.source, target: e.target, lineStyle: Object.assign({ width: 1.4, opacity: 0.8,
        curveness: e.kind === "flows_to" ? 0.3 : 0.05 }, edgeStyle[e.kind] || {}),
      tooltip: { formatter: `${esc(e.source)} ${esc(e.kind)} ${esc(e.target)}` },
    }));
    const byKind = (list, key) => {
      const out = {};
      list.forEach((x) => { out[x[key]] = (out[x[key]] || 0) + 1; });
      return Object.entries(out).sort();
    };
    view.innerHTML = `<h1>The plant: ${esc(g.name)}</h1>
      <div class="card"><div id="graph" class="chart tall"></div>
      <p class="muted">Left to right: meters, utilities, machines (by line), lines, site;
      products, their materials and suppliers. Dashed: a meter measures an asset; orange:
      a utility serves a machine; dotted: the routing flows from machine to machine.</p></div>
      <div class="grid2"><div class="card"><h2>Assets</h2>${table(
        [{ label: "kind", value: (r) => r[0] }, { label: "count", num: true, key: "count", value: (r) => String(r[1]) }],
        byKind(g.nodes, "kind"), 'id="node-counts"')}</div>
      <div class="card"><h2>Relations</h2>${table(
        [{ label: "relation", value: (r) => r[0] }, { label: "count", num: true, key: "count", value: (r) => String(r[1]) }],
        byKind(g.edges, "kind"), 'id="edge-counts"')}</div></div>`;
    chart(document.getElementById("graph"), {
      tooltip: {},
      legend: { data: order, top: 0 },
      series: [{
        type: "graph", layout: "none", roam: true, edgeSymbol: ["none", "arrow"], edgeSymbolSize: 6,
        categories: order.map((k) => ({ name: k, itemStyle: { color: COLOURS[k] } })),
        data: nodes, links: links, top: 40, bottom: 10, left: 20, right: 120,
      }],
    });
  }

  // a span of the plant views: #flow/START/END (ISO 8601, UTC); none: the whole history.
  // A store too large to attribute at once answers 413: the view then shows the last day
  // of stored events (GET /events/extent), or past the limit even then the last hour, and
  // says so; past it still, the form stays with the API's message, to pick a shorter span.
  function spanQuery(start, end) {
    return start && end ? `?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}` : "";
  }

  function spanForm(name, start, end, note) {
    const val = (iso) => (iso ? iso.slice(0, 16) : "");
    return `<form class="inline card" id="span-form" data-view="${name}">
      <label>From (UTC) <input type="datetime-local" name="start" value="${esc(val(start))}"></label>
      <label>To (UTC) <input type="datetime-local" name="end" value="${esc(val(end))}"></label>
      <button type="submit">Show</button>
      <a href="#${name}">whole history</a>
      <span class="muted">${start && end ? "the allocation periods covering this span"
        : "every stored event"}</span></form>` +
      (note ? `<p class="note" id="span-note">${esc(note.text)}<br><span class="muted">${esc(note.detail)}</span></p>` : "");
  }

  function wireSpanForm() {
    const form = document.getElementById("span-form");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const iso = (v) => (v ? v + ":00Z" : "");
      const a = iso(form.start.value), b = iso(form.end.value);
      location.hash = a && b ? `#${form.dataset.view}/${encodeURIComponent(a)}/${encodeURIComponent(b)}`
        : `#${form.dataset.view}`;
    });
  }

  const isoUTC = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");

  // the view's data and the span it covers: {data, start, end, note}; null when refused
  async function spanJSON(name, path, start, end) {
    try {
      return { data: await getJSON(path + spanQuery(start, end)), start, end, note: null };
    } catch (e) {
      if (!(e instanceof ApiError) || !sessionStorage.getItem(TOKEN_KEY)) throw e;
      let refused = e;
      if (e.status === 413 && !(start && end)) {
        const ext = await getJSON("events/extent");
        // the last day; past the limit too (a day of a large plant), the last hour
        for (const [ms, what] of ext.last ? [[86400000, "day"], [3600000, "hour"]] : []) {
          const b = Date.parse(ext.last);
          const [s, t] = [isoUTC(Math.max(b - ms, Date.parse(ext.first))), isoUTC(b)];
          try {
            const data = await getJSON(path + spanQuery(s, t));
            history.replaceState(null, "", `#${name}/${encodeURIComponent(s)}/${encodeURIComponent(t)}`);
            const note = { text: `Shown: the last ${what} of stored events, ${s} to ${t}. The whole ` +
              "history is too large to attribute at once; pick another span above.", detail: e.message };
            return { data, start: s, end: t, note };
          } catch (e2) {
            if (!(e2 instanceof ApiError)) throw e2;
            refused = e2;
            if (e2.status !== 413) break;
          }
        }
      }
      view.innerHTML = spanForm(name, start, end) + `<p class="error" id="span-error">${esc(refused.message)}</p>`;
      wireSpanForm();
      return null;
    }
  }

  async function flowView(start, end) {
    const got = await spanJSON("flow", "plant/energy-flow", start, end);
    if (got === null) return;
    const f = got.data;
    const kinds = {};
    f.nodes.forEach((n) => { kinds[n.id] = n.kind; });
    const depth = { meter: 0, model: 0, machine: 1, utility: 1, asset: 1, order: 2, overhead: 2 };
    view.innerHTML = `<h1>Energy flow: meters → assets → orders</h1>${spanForm("flow", got.start, got.end, got.note)}
      ${kpis([["kWh metered and filled", f2(f.total_kwh), "total_kwh"],
              ["kWh to orders", f2(f.orders_kwh), "orders_kwh"],
              ["kWh plant overhead", f2(f.overhead_kwh), "overhead_kwh"]])}
      <div class="card"><div id="sankey" class="chart tall"></div></div>
      <div class="card"><h2>Links [kWh]</h2>${table([
        { label: "from", value: (l) => l.source }, { label: "to", value: (l) => l.target },
        { label: "kWh", num: true, key: "energy_kwh", value: (l) => f2(l.energy_kwh) }],
        f.links.slice().sort((a, b) => b.energy_kwh - a.energy_kwh), 'id="links"')}</div>`;
    wireSpanForm();
    chart(document.getElementById("sankey"), {
      tooltip: { trigger: "item", formatter: (p) => p.dataType === "edge"
        ? `${esc(p.data.source)} → ${esc(p.data.target)}: ${f2(p.data.value)} kWh`
        : `${esc(p.name)}: ${f2(p.value)} kWh` },
      series: [{
        type: "sankey", left: 10, right: 120, nodeGap: 6, layoutIterations: 32,
        emphasis: { focus: "adjacency" },
        data: f.nodes.map((n) => ({ name: n.id, depth: depth[n.kind] ?? 1,
          itemStyle: { color: COLOURS[n.kind] || "#777" } })),
        links: f.links.map((l) => ({ source: l.source, target: l.target, value: l.energy_kwh })),
        lineStyle: { color: "gradient", opacity: 0.35 }, label: { fontSize: 11 },
      }],
    });
  }

  async function latestFootprints() {
    const fps = await getJSON("footprints?latest_only=true&limit=1000");
    fps.sort((a, b) => a.order.localeCompare(b.order));
    return fps;
  }

  async function ordersView() {
    const fps = await latestFootprints();
    const total = fps.reduce((s, fp) => s + fp.co2e_kg, 0);
    const energy = fps.reduce((s, fp) => s + fp.energy_kwh, 0);
    view.innerHTML = `<h1>Per-order footprints</h1>
      ${kpis([["orders", String(fps.length), "orders"], ["kg CO2e (cradle-to-gate)", f2(total), "co2e_kg"],
              ["kWh", f2(energy), "energy_kwh"]])}
      <div class="card"><div id="bars" class="chart"></div></div>
      <div class="card">${fps.length ? table([
        { label: "order", key: "order", html: true, value: (r) => `<a href="#order/${encodeURIComponent(r.order)}">${esc(r.order)}</a>` },
        { label: "product", value: (r) => r.product },
        { label: "quantity", num: true, key: "quantity", value: (r) => `${r.quantity} ${r.declared_unit}` },
        { label: "kWh", num: true, key: "energy_kwh", value: (r) => f2(r.energy_kwh) },
        { label: "kg CO2e", num: true, key: "co2e_kg", value: (r) => f2(r.co2e_kg) },
        { label: "kg CO2e/unit", num: true, key: "co2e_per_unit_kg", value: (r) => f4(r.co2e_kg / r.quantity) },
        { label: "scope 1", num: true, key: "scope1_kg", value: (r) => f2(r.scope1_kg) },
        { label: "scope 2", num: true, key: "scope2_location_kg", value: (r) => f2(r.scope2_location_kg) },
        { label: "scope 3", num: true, key: "scope3_kg", value: (r) => f2(r.scope3_kg) },
        { label: "primary data", num: true, key: "primary_data_share", value: (r) => pct0(r.primary_data_share) },
        { label: "flags", num: true, key: "flags", value: (r) => String(r.flags.length) },
        { label: "version", num: true, key: "version", value: (r) => String(r.version) },
        { label: "status", key: "status", value: (r) => (r.status === "Deprecated" ? "withdrawn" : "issued") },
      ], fps, 'id="orders"') : '<p>No footprint issued yet: <code>POST footprints/attribute</code> issues them.</p>'}
      <p class="muted">Scope 2 location-based. Click an order for its breakdown.</p></div>`;
    chart(document.getElementById("bars"), {
      tooltip: { trigger: "axis", valueFormatter: (v) => f2(v) + " kg" },
      legend: { top: 0 },
      grid: { left: 70, right: 20, top: 40, bottom: 60 },
      xAxis: { type: "category", data: fps.map((f) => f.order), axisLabel: { rotate: 45 } },
      yAxis: { type: "value", name: "kg CO2e" },
      series: [
        ["scope 1 (fuels)", "scope1_kg", "#b5651d"],
        ["scope 2 (electricity)", "scope2_location_kg", "#4a7ab7"],
        ["scope 3 (materials)", "scope3_kg", "#8fbc8f"],
      ].map(([name, key, color]) => ({ name, type: "bar", stack: "s", itemStyle: { color },
        data: fps.map((f) => f[key]) })),
    });
  }

  const BY = ["machine", "state", "utility", "material", "scope", "hour"];

  async function orderView(orderId, by) {
    by = BY.includes(by) ? by : "machine";
    const versions = await getJSON(`orders/${encodeURIComponent(orderId)}/footprint`);
    const fp = versions.versions[versions.versions.length - 1].payload;
    const b = await getJSON(`breakdowns/${by}?order=${encodeURIComponent(orderId)}`);
    const keyOf = { machine: "machine", state: "state", utility: "utility", material: "material",
      scope: "scope", hour: "hour_start_utc" }[by];
    // a withdrawal (issued with status Deprecated) names its reason in a flag
    const reason = fp.status === "Deprecated"
      ? (fp.flags.filter((x) => x.startsWith("withdrawn: ")).pop() || "withdrawn: (no reason given)").slice(11)
      : null;
    const withdrawn = reason === null ? ""
      : `<p class="withdrawn" id="withdrawn">Withdrawn: ${esc(reason)}. This footprint is no longer valid;
        version ${esc(fp.version)} replaces ${esc(fp.replaces)}.</p>`;
    const flags = fp.flags.length
      ? "<ul class=\"flags\" id=\"flags\">" + fp.flags.map((x) => `<li>${esc(x)}</li>`).join("") + "</ul>"
      : '<p class="ok" id="flags">No data-quality flags: every figure from measured data.</p>';
    let cols;
    if (by === "material") {
      cols = [{ label: "material", value: (r) => r.material }, { label: "supplier", value: (r) => r.supplier },
        { label: "quantity", num: true, key: "quantity", value: (r) => `${num(r.quantity, 2)} ${r.unit}` },
        { label: "kg CO2e", num: true, key: "co2e_kg", value: (r) => f2(r.co2e_kg) },
        { label: "basis", value: (r) => (r.primary ? "primary, " : "secondary, ") + r.basis }];
    } else if (by === "scope") {
      cols = [{ label: "scope", value: (r) => r.scope },
        { label: "kg CO2e", num: true, key: "co2e_kg", value: (r) => f2(r.co2e_kg) }];
    } else {
      cols = [{ label: by === "hour" ? "hour" : by, key: keyOf, value: (r) => by === "hour" ? utc(r[keyOf]) : r[keyOf] }];
      if (by === "utility") cols.push({ label: "served", value: (r) => r.served_asset });
      cols.push({ label: "kWh", num: true, key: "energy_kwh", value: (r) => f2(r.energy_kwh) },
        { label: "kg CO2e", num: true, key: "co2e_kg", value: (r) => f2(r.co2e_kg) },
        { label: "kg CO2e market-based", num: true, key: "co2e_market_kg", value: (r) => f2(r.co2e_market_kg) });
    }
    view.innerHTML = `<h1>Order ${esc(fp.order)} <span class="muted">${esc(fp.product)},
        ${esc(fp.quantity)} ${esc(fp.declared_unit)}, version ${esc(fp.version)}</span></h1>${withdrawn}
      ${kpis([["kg CO2e", f2(fp.co2e_kg), "co2e_kg"], ["kg CO2e per " + fp.declared_unit, f4(fp.co2e_kg / fp.quantity), "co2e_per_unit_kg"],
              ["kWh", f2(fp.energy_kwh), "energy_kwh"], ["scope 1", f2(fp.scope1_kg), "scope1_kg"],
              ["scope 2 (location)", f2(fp.scope2_location_kg), "scope2_location_kg"],
              ["scope 3", f2(fp.scope3_kg), "scope3_kg"], ["primary data", pct0(fp.primary_data_share), "primary_data_share"]])}
      <div class="card"><h2>Data quality</h2>${flags}
        <p class="muted">Period ${esc(utc(fp.period_start))} to ${esc(utc(fp.period_end))}.
        Rules: ${esc(Object.entries(fp.rules).map(([k, v]) => k + "=" + v).join(", "))}.</p></div>
      ${statusCard(fp)}
      <div class="tabs" role="tablist">${BY.map((x) =>
        `<button type="button" data-by="${x}" class="${x === by ? "active" : ""}">by ${x}</button>`).join("")}</div>
      <div class="grid2"><div class="card"><div id="breakdown-chart" class="chart"></div></div>
      <div class="card">${table(cols, b.rows, `id="breakdown" data-by="${by}"`)}</div></div>`;
    wireStatusForm(orderId);
    view.querySelectorAll(".tabs button").forEach((btn) => btn.addEventListener("click", () => {
      location.hash = `#order/${encodeURIComponent(orderId)}/${btn.dataset.by}`;
    }));
    const el = document.getElementById("breakdown-chart");
    if (by === "hour") {
      chart(el, {
        tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 60, right: 60, top: 40, bottom: 40 },
        xAxis: { type: "time" }, yAxis: [{ type: "value", name: "kWh" }, { type: "value", name: "kg CO2e" }],
        series: [
          { name: "kWh", type: "bar", data: b.rows.map((r) => [r.hour_start_utc, r.energy_kwh]), itemStyle: { color: "#4a7ab7" } },
          { name: "kg CO2e", type: "line", yAxisIndex: 1, data: b.rows.map((r) => [r.hour_start_utc, r.co2e_kg]), itemStyle: { color: "#b3261e" } },
        ],
      });
    } else {
      const label = by === "utility" ? (r) => r.utility + " → " + r.served_asset : (r) => r[keyOf];
      const rows = b.rows.slice().sort((x, y) => x.co2e_kg - y.co2e_kg);
      chart(el, {
        tooltip: { trigger: "axis", valueFormatter: (v) => f2(v) }, grid: { left: 140, right: 30, top: 20, bottom: 30 },
        xAxis: { type: "value", name: "kg CO2e" }, yAxis: { type: "category", data: rows.map(label) },
        series: [{ type: "bar", data: rows.map((r) => r.co2e_kg), itemStyle: { color: "#2f6f4f" } }],
      });
    }
  }

  // withdraw a footprint (a new signed version, status Deprecated) or reinstate it; the
  // reason goes on record (flags, lineage). The API answers 403 without the write scope.
  function statusCard(fp) {
    const act = fp.status === "Deprecated" ? "reinstate" : "withdraw";
    const text = act === "withdraw"
      ? "Withdraw it when it must no longer be used (order cancelled, wrong data): a new signed version with status Deprecated; PACT partners and the label then show it withdrawn."
      : "Reinstate it when it was withdrawn by mistake: a new signed Active version with the figures of the withdrawn one.";
    return `<div class="card"><h2>Status: ${act === "withdraw" ? "issued" : "withdrawn"}</h2>
      <form class="inline" id="status-form" data-act="${act}">
        <label>Reason <input name="reason" maxlength="500" required size="40"
          placeholder="${act === "withdraw" ? "order cancelled by the customer" : "withdrawn by mistake"}"></label>
        <button type="submit">${act === "withdraw" ? "Withdraw footprint" : "Reinstate footprint"}</button>
      </form><p class="muted">${esc(text)}</p>
      <p id="status-error" class="error" role="alert"></p></div>`;
  }

  function wireStatusForm(orderId) {
    const form = document.getElementById("status-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = document.getElementById("status-error");
      const button = form.querySelector("button");
      err.textContent = "";
      button.disabled = true;
      try {
        await api(`orders/${encodeURIComponent(orderId)}/footprint/${form.dataset.act}`, {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ reason: form.reason.value }),
        });
      } catch (e) {
        err.textContent = e.message;
        button.disabled = false;
        return;
      }
      route();
    });
  }

  async function hotspotsView(start, end) {
    const got = await spanJSON("hotspots", "plant/hotspots", start, end);
    if (got === null) return;
    const h = got.data;
    const cols = (name) => [{ label: name, key: "key", value: (r) => r.key },
      { label: "kWh", num: true, key: "energy_kwh", value: (r) => f2(r.energy_kwh) },
      { label: "kg CO2e", num: true, key: "co2e_kg", value: (r) => f2(r.co2e_kg) },
      { label: "to orders", num: true, key: "orders_co2e_kg", value: (r) => f2(r.orders_co2e_kg) },
      { label: "overhead", num: true, key: "overhead_co2e_kg", value: (r) => f2(r.overhead_co2e_kg) }];
    const block = (id, title, rows, name) => `<div class="card"><h2>${title}</h2>
      <div id="${id}-chart" class="chart"></div>${table(cols(name), rows, `id="${id}"`)}</div>`;
    view.innerHTML = `<h1>Hotspots: what cost the most CO2e</h1>${spanForm("hotspots", got.start, got.end, got.note)}
      ${kpis([["kg CO2e from energy (orders and overhead)", f2(h.total_co2e_kg), "total_co2e_kg"]])}
      <div class="grid3">${block("machines", "Machines (with the utilities they drew)", h.machines, "machine")}
      ${block("states", "Power states", h.states, "state")}
      ${block("idle", "Idle and standby time, by machine", h.idle, "machine")}</div>
      <p class="muted">Scopes 1 and 2 (location-based); materials (scope 3) are in each order's breakdown.</p>`;
    wireSpanForm();
    [["machines", h.machines, "#2f6f4f"], ["states", h.states, "#c17d11"], ["idle", h.idle, "#b3261e"]].forEach(([id, rows, color]) => {
      const r = rows.slice().reverse();
      chart(document.getElementById(id + "-chart"), {
        tooltip: { trigger: "axis", valueFormatter: (v) => f2(v) + " kg" },
        grid: { left: 90, right: 20, top: 10, bottom: 30 },
        xAxis: { type: "value", name: "kg CO2e" }, yAxis: { type: "category", data: r.map((x) => x.key) },
        series: [{ type: "bar", data: r.map((x) => id === "states"
          ? { value: x.co2e_kg, itemStyle: { color: STATE_COLOURS[x.key] || color } } : x.co2e_kg),
          itemStyle: { color } }],
      });
    });
  }

  function gantt(el, result) {
    const machines = result.machines;
    const data = [];
    result.schedules.forEach((s, k) => {
      s.segments.forEach((seg) => {
        data.push({ value: [machines.indexOf(seg.machine) + k * (machines.length + 1),
          Date.parse(seg.start), Date.parse(seg.end), seg.state, s.name, seg.machine],
          itemStyle: { color: STATE_COLOURS[seg.state] || "#ccc" } });
      });
    });
    const rows = [];
    result.schedules.forEach((s, k) => {
      machines.forEach((m) => rows.push(`${s.name}: ${m}`));
      if (k < result.schedules.length - 1) rows.push("");
    });
    return chart(el, {
      tooltip: { formatter: (p) => `${esc(p.value[4])} · ${esc(p.value[5])}<br>${esc(p.value[3])}<br>` +
        `${utc(new Date(p.value[1]).toISOString())} – ${utc(new Date(p.value[2]).toISOString())}` },
      grid: { left: 190, right: 20, top: 10, bottom: 40 },
      xAxis: { type: "time" },
      yAxis: { type: "category", data: rows, inverse: true, axisLabel: { fontSize: 10 } },
      series: [{
        type: "custom", encode: { x: [1, 2], y: 0 }, data,
        renderItem: (params, api) => {
          const y = api.value(0);
          const a = api.coord([api.value(1), y]);
          const b = api.coord([api.value(2), y]);
          const h = api.size([0, 1])[1] * 0.7;
          return { type: "rect", shape: { x: a[0], y: a[1] - h / 2, width: Math.max(b[0] - a[0], 0.5), height: h },
            style: api.style() };
        },
      }],
    });
  }

  async function schedulesView() {
    const policies = await getJSON("schedules/policies");
    const opts = policies.policies.filter((p) => p !== policies.baseline).map((p) =>
      `<option value="${esc(p)}" ${p === "idle_shutdown" ? "selected" : ""}>${esc(p)}</option>`).join("");
    view.innerHTML = `<h1>Schedules: as-is against another schedule</h1>
      <form class="inline card" id="compare-form">
        <label>As-is <input value="${esc(policies.baseline)}" disabled></label>
        <label>Against <select name="candidate">${opts}</select></label>
        <label>Replications <input name="replications" type="number" min="2" max="10" value="3"></label>
        <button type="submit">Compare</button>
        <span class="muted">The stored orders, replayed in the simulator with seeded
        processing times and breakdowns; the same seeds for both schedules.</span>
      </form><div id="compare-result"></div>`;
    const form = document.getElementById("compare-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const out = document.getElementById("compare-result");
      out.innerHTML = '<p class="loading">Simulating…</p>';
      const body = { candidate: form.candidate.value, replications: Number(form.replications.value) };
      try {
        const r = await getJSON("schedules/compare", { method: "POST",
          headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        renderComparison(out, r);
      } catch (e) {
        out.innerHTML = `<p class="error">${esc(e.message)}</p>`;
      }
    });
    form.requestSubmit();
  }

  function renderComparison(out, r) {
    const [base, cand] = r.schedules.map((s) => s.name);
    const pm = (s) => s.half_width === null ? f2(s.mean) : `${f2(s.mean)} ± ${f2(s.half_width)}`;
    const legend = Object.entries(STATE_COLOURS).map(([k, c]) =>
      `<span><i style="background:${c}"></i>${k}</span>`).join("");
    out.innerHTML = `<div class="card"><h2>Machine states, replication 0</h2>
        <div class="legend">${legend}</div>
        <div id="gantt" class="chart tall"></div></div>
      <div class="card"><h2>Electric power (hourly mean) and grid intensity</h2>
        <div id="power" class="chart"></div></div>
      <div class="card"><h2>KPIs over ${r.replications} replications (mean ± 95 % CI)</h2>${table([
        { label: "KPI", value: (k) => k.kpi }, { label: "unit", value: (k) => k.unit },
        { label: base, num: true, key: "baseline", value: (k) => pm(k.baseline) },
        { label: cand, num: true, key: "candidate", value: (k) => pm(k.candidate) },
        { label: `${cand} − ${base}`, num: true, key: "difference", value: (k) => pm(k.difference) },
      ], r.kpis, 'id="kpis"')}<p class="muted">Differences paired by seed (Student t).</p></div>`;
    gantt(document.getElementById("gantt"), r);
    const series = r.schedules.map((s, k) => ({ name: `${s.name} kW`, type: "line", step: "start",
      showSymbol: false, data: s.hours.map((h, i) => [h, s.power_kw[i]]),
      lineStyle: { width: 1.5, color: k ? "#2f6f4f" : "#3a6ea5" }, itemStyle: { color: k ? "#2f6f4f" : "#3a6ea5" } }));
    series.push({ name: "grid g CO2e/kWh", type: "line", step: "start", yAxisIndex: 1, showSymbol: false,
      data: r.grid.hours.map((h, i) => [h, r.grid.g_per_kwh[i]]), lineStyle: { color: "#c17d11", type: "dashed" },
      itemStyle: { color: "#c17d11" } });
    chart(document.getElementById("power"), {
      tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: { left: 60, right: 70, top: 40, bottom: 40 },
      xAxis: { type: "time" }, yAxis: [{ type: "value", name: "kW" }, { type: "value", name: "g CO2e/kWh" }],
      series,
    });
  }

  async function labelsView(orderId) {
    const fps = await latestFootprints();
    if (!fps.length) {
      view.innerHTML = "<h1>Labels</h1><p>No footprint issued yet.</p>";
      return;
    }
    const current = fps.find((f) => f.order === orderId) || fps[0];
    view.innerHTML = `<h1>Carbon labels</h1>
      <form class="inline card"><label>Order <select id="label-order">${fps.map((f) =>
        `<option ${f.order === current.order ? "selected" : ""}>${esc(f.order)}</option>`).join("")}</select></label>
        <label>Check a signed label or footprint (JSON) <input type="file" id="verify-file" accept=".json,application/json"></label>
      </form>
      <div class="grid2"><div class="card label-view"><img id="label-img" alt="carbon label of ${esc(current.order)}"></div>
      <div class="card"><h2>Verification</h2><div id="verification" class="loading">Checking…</div>
        <div id="file-verification"></div></div></div>`;
    document.getElementById("label-order").addEventListener("change", (ev) => {
      location.hash = "#labels/" + encodeURIComponent(ev.target.value);
    });
    document.getElementById("verify-file").addEventListener("change", async (ev) => {
      const file = ev.target.files[0];
      const box = document.getElementById("file-verification");
      try {
        // the file's own bytes: parsing and re-serializing could change how numbers are written
        const v = await getJSON("footprints/verify", { method: "POST",
          headers: { "Content-Type": "application/json" }, body: await file.text() });
        box.innerHTML = `<h2>${esc(file.name)}</h2>` + verdict(v);
      } catch (e) {
        box.innerHTML = `<p class="error">${esc(file.name)}: ${esc(e.message)}</p>`;
      }
    });
    const svg = await (await api(`labels/${encodeURIComponent(current.order)}?format=svg`)).blob();
    document.getElementById("label-img").src = URL.createObjectURL(svg);
    // the signed label data exactly as served (re-serializing in JavaScript could write
    // 240.0 as 240 and so change the signed bytes)
    const label = await (await api(`labels/${encodeURIComponent(current.order)}?format=json`)).text();
    const [stored, signedLabel] = await Promise.all([
      getJSON(`footprints/${encodeURIComponent(current.id)}/verify`),
      getJSON("footprints/verify", { method: "POST", headers: { "Content-Type": "application/json" },
        body: label }),
    ]);
    document.getElementById("verification").className = "";
    document.getElementById("verification").innerHTML =
      `<h2>Footprint record ${esc(current.id)}</h2>${verdict(stored, "footprint")}
       <h2>Label data</h2>${verdict(signedLabel, "label")}`;
  }

  function verdict(v, id) {
    const attr = id ? ` data-verify="${esc(id)}"` : "";
    return `<p class="${v.valid ? "ok" : "bad"}"${attr} data-valid="${v.valid}">` +
      `${v.valid ? "✔ signature valid" : (v.altered ? "✘ altered: " : "✘ not verified: ") + esc(v.reason)}</p>` +
      `<table><tr><th>key id</th><td data-col="key_id">${esc(v.key_id)}</td></tr>` +
      `<tr><th>SHA-256</th><td data-col="sha256"><code>${esc(v.sha256)}</code></td></tr>` +
      `<tr><th>reason</th><td data-col="reason">${esc(v.reason)}</td></tr>` +
      (v.matches_store === null || v.matches_store === undefined ? "" :
        `<tr><th>matches the store</th><td data-col="matches_store">${v.matches_store ? "yes" : "no"}</td></tr>`) +
      "</table>";
  }

  // ---------------------------------------------------------------- routing
  async function route() {
    charts.splice(0).forEach((c) => c.dispose());
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      showLogin();
      return;
    }
    document.getElementById("logout").hidden = false;
    const [name, arg, arg2] = (location.hash.slice(1) || "orders").split("/").map(decodeURIComponent);
    document.querySelectorAll("header nav a").forEach((a) => {
      a.classList.toggle("active", a.dataset.view === name || (name === "order" && a.dataset.view === "orders"));
    });
    view.innerHTML = '<p class="loading">Loading…</p>';
    view.dataset.ready = "false";
    const views = {
      plant: plantView, flow: () => flowView(arg, arg2), orders: ordersView,
      order: () => orderView(arg, arg2), hotspots: () => hotspotsView(arg, arg2),
      schedules: schedulesView, labels: () => labelsView(arg),
    };
    try {
      await (views[name] || ordersView)();
      view.dataset.ready = "true";
    } catch (e) {
      if (!(e instanceof ApiError) || !document.getElementById("login").hidden) {
        view.innerHTML = `<p class="error">${esc(e.message)}</p>`;
      }
      view.dataset.ready = "error";
    }
  }

  window.addEventListener("hashchange", route);
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  route();
})();
