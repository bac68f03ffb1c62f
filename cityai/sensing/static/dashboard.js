// CityAI city operations dashboard (/sensing). Fetches the sensing JSON API every few seconds (no page reload),
// pauses while the tab is hidden, and draws the map (SVG over the ward boundaries), the sensor table, the open
// alerts and the selected sensor's chart with its forecast. Everything is built with DOM nodes and text nodes:
// nothing from the server is parsed as HTML. No dependencies, nothing fetched from elsewhere; the page's CSP
// allows only scripts from this origin, so there is no inline script or handler anywhere.
(function () {
  "use strict";

  var API = "/api/v1/sensing";
  var SVGNS = "http://www.w3.org/2000/svg";
  var TZ = "Asia/Ho_Chi_Minh";
  var STATUS_ORDER = { alert: 0, silent: 1, ok: 2 };
  var HOUR = 3600 * 1000;

  var root = document.getElementById("sens");
  if (!root) { return; }
  var T = {};
  try { T = JSON.parse(document.getElementById("sens-texts").textContent); } catch (e) { T = {}; }
  T.status = T.status || {};
  T.severity = T.severity || {};

  var csrf = root.getAttribute("data-csrf") || "";
  var locale = root.getAttribute("data-locale") || "vi";
  var staff = root.getAttribute("data-staff") === "1";
  var refreshMs = Math.max(2, parseInt(root.getAttribute("data-refresh"), 10) || 10) * 1000;
  var intl = locale === "en" ? "en-GB" : "vi-VN";

  function $(id) { return document.getElementById(id); }
  var els = {
    type: $("sens-type"), updated: $("sens-updated"), refresh: $("sens-refresh"), error: $("sens-error"),
    live: $("sens-live"), map: $("sens-map"), wards: $("sens-wards"), markers: $("sens-markers"),
    mapNote: $("sens-map-note"), unplaced: $("sens-unplaced"), hint: $("sens-hint"), detail: $("sens-detail"),
    title: $("sens-panel-title"), meta: $("sens-meta"), latest: $("sens-latest"), chart: $("sens-chart"),
    chartDesc: $("sens-chart-desc"), chartTitle: $("sens-chart-title"), horizon: $("sens-horizon"),
    window: $("sens-window"), fcInfo: $("sens-fc-info"), bandLabel: $("sens-band-label"),
    congestion: $("sens-congestion"), fcRows: $("sens-fc-rows"), alertList: $("sens-alert-list"),
    alertNote: $("sens-alerts-note"), alertCount: $("sens-alert-count"), rows: $("sens-rows"), total: $("sens-total")
  };
  var panelTitleDefault = els.title.textContent;

  var params = new URLSearchParams(window.location.search);
  var state = {
    data: null,
    map: null,
    type: params.get("type") || "",
    selected: params.get("sensor") || null,
    sort: { key: "status", dir: 1 },
    extent: "sensors",
    horizon: 60,
    windowH: 24,
    series: null,       // {key, entity, attr, times: [ms], values: []}
    forecast: null,     // {key, entity, attr, data | error}
    seriesKey: null,
    forecastKey: null,
    prevStatus: null,
    prevAlerts: null,
    timer: null,
    inflight: null,
    markers: {},
    rows: {},
    alertItems: {},
    typesFilled: false
  };

  // ---------------------------------------------------------------- small helpers

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    setAttrs(node, attrs);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) { return; }
    Object.keys(attrs).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
    });
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
  }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] !== undefined ? String(values[k]) : m;
    });
  }

  function api(method, path, body, cacheMode) {
    var headers = { "Accept": "application/json", "Accept-Language": locale };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (csrf && method !== "GET") { headers["X-CSRF-Token"] = csrf; }
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin", cache: cacheMode || "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var err = new Error((data && (data.detail || data.title)) || (T.error + " (HTTP " + resp.status + ")"));
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    }, function () {
      var err = new Error(T.network);
      err.status = 0;
      throw err;
    });
  }

  function parseTime(iso) {
    if (!iso) { return null; }
    var t = Date.parse(iso);
    return isNaN(t) ? null : t;
  }

  var fmtTime = new Intl.DateTimeFormat(intl, { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var fmtHM = new Intl.DateTimeFormat(intl, { timeZone: TZ, hour: "2-digit", minute: "2-digit", hour12: false });
  var fmtDay = new Intl.DateTimeFormat(intl, { timeZone: TZ, day: "2-digit", month: "2-digit" });

  function when(iso) {
    var t = parseTime(iso);
    if (t === null) { return T.never || "–"; }
    var d = new Date(t);
    var sameDay = fmtDay.format(d) === fmtDay.format(new Date());
    return sameDay ? fmtHM.format(d) : fmtDay.format(d) + " " + fmtHM.format(d);
  }

  function attrInfo(type, attr) {
    var t = state.data && state.data.types ? state.data.types[type] : null;
    var a = t && t.attrs ? t.attrs[attr] : null;
    return { label: a ? a.label : attr, unit: a ? (a.unit || "") : "" };
  }

  function isRatio(unitCode) { return unitCode === "C62"; }

  function number(v, digits) {
    return new Intl.NumberFormat(intl, { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(v);
  }

  function digitsFor(v) {
    var a = Math.abs(v);
    return a >= 100 ? 0 : (a >= 10 ? 1 : 2);
  }

  // A value with its unit: ratios (UN/CEFACT C62) as percentages.
  function formatValue(v, unit, unitCode) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) { return "–"; }
    if (isRatio(unitCode)) { return number(v * 100, 1) + " %"; }
    var s = number(v, digitsFor(v));
    return unit ? s + " " + unit : s;
  }

  function sensorName(s) {
    return s.name || s.device_id || s.entity_id;
  }

  function sensorById(id) {
    var list = state.data ? state.data.sensors : [];
    for (var i = 0; i < list.length; i++) { if (list[i].entity_id === id) { return list[i]; } }
    return null;
  }

  function mainValue(s) {
    var v = s.latest && s.main ? s.latest[s.main] : null;
    if (!v) { return "–"; }
    var info = attrInfo(s.type, s.main);
    return formatValue(v.value, info.unit, v.unitCode);
  }

  function announce(text) {
    if (!text) { return; }
    els.live.textContent = "";
    window.setTimeout(function () { els.live.textContent = text; }, 50);
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = false;
  }

  function hideError() {
    els.error.hidden = true;
    els.error.textContent = "";
  }

  function keepInUrl() {
    var p = new URLSearchParams(window.location.search);
    if (state.type) { p.set("type", state.type); } else { p.delete("type"); }
    if (state.selected) { p.set("sensor", state.selected); } else { p.delete("sensor"); }
    var q = p.toString();
    try {
      window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + window.location.hash);
    } catch (e) { /* not allowed: the state stays in memory */ }
  }

  // ---------------------------------------------------------------- refreshing

  function schedule() {
    window.clearTimeout(state.timer);
    state.timer = null;
    if (document.hidden) { return; }
    state.timer = window.setTimeout(refresh, refreshMs);
  }

  function refresh() {
    if (state.inflight) { return state.inflight; }
    window.clearTimeout(state.timer);
    root.setAttribute("aria-busy", "true");
    var path = API + "/dashboard" + (state.type ? "?type=" + encodeURIComponent(state.type) : "");
    state.inflight = api("GET", path).then(function (data) {
      state.data = data;
      hideError();
      fillTypes();
      announceChanges(data);
      render();
      els.updated.textContent = T.updated + " " + fmtTime.format(new Date(parseTime(data.generated_at) || Date.now()));
      els.updated.setAttribute("data-generated", data.generated_at || "");
    }).catch(function (err) {
      showError(err.message || T.error);
    }).then(function () {
      state.inflight = null;
      root.removeAttribute("aria-busy");
      if (document.hidden) { els.updated.textContent = T.paused; }
      schedule();
    });
    return state.inflight;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      window.clearTimeout(state.timer);
      state.timer = null;
      if (!state.inflight) { els.updated.textContent = T.paused; }
    } else {
      refresh();
    }
  });

  els.refresh.addEventListener("click", function () { refresh(); });

  function fillTypes() {
    if (state.typesFilled || !state.data || !state.data.types) { return; }
    state.typesFilled = true;
    Object.keys(state.data.types).forEach(function (t) {
      var o = el("option", { value: t }, state.data.types[t].label || t);
      els.type.appendChild(o);
    });
    els.type.value = state.type;
    if (els.type.value !== state.type) { state.type = ""; els.type.value = ""; }
  }

  els.type.addEventListener("change", function () {
    state.type = els.type.value;
    keepInUrl();
    refresh();
  });

  function announceChanges(data) {
    var now = {};
    var changed = [];
    data.sensors.forEach(function (s) {
      now[s.entity_id] = s.status;
      if (state.prevStatus && state.prevStatus[s.entity_id] && state.prevStatus[s.entity_id] !== s.status) {
        changed.push(sensorName(s) + " " + T.became + " " + (T.status[s.status] || s.status));
      }
    });
    var alertIds = {};
    var fresh = 0;
    (data.alerts || []).forEach(function (a) {
      alertIds[a.id] = true;
      if (state.prevAlerts && !state.prevAlerts[a.id]) { fresh += 1; }
    });
    var parts = changed.slice(0, 3);
    if (changed.length > 3) { parts.push("+" + (changed.length - 3)); }
    if (fresh) { parts.push(fresh + " " + T.new_alerts); }
    if (state.prevStatus) { announce(parts.join(". ")); }
    state.prevStatus = now;
    state.prevAlerts = alertIds;
  }

  function render() {
    renderCounts();
    setView();  // the sensors' area may have changed; draws the markers
    renderTable();
    renderAlerts();
    renderPanel();
  }

  function renderCounts() {
    var c = state.data.counts || {};
    ["ok", "alert", "silent"].forEach(function (s) {
      var node = $("sens-count-" + s);
      if (node) { node.textContent = String(c[s] || 0); }
    });
    els.total.textContent = "(" + state.data.sensors.length + " " + T.sensors + ")";
  }

  // ---------------------------------------------------------------- the map

  function defaultMap() {
    // the server's plain frame (pages.plain_map), should the map request fail
    var bbox = [106.35, 10.35, 107.2, 11.2];
    var kx = Math.cos((bbox[1] + bbox[3]) / 2 * Math.PI / 180);
    var s = 976 / ((bbox[2] - bbox[0]) * kx);
    var h = (bbox[3] - bbox[1]) * s;
    return { available: false, width: 1000, height: h + 24, wards: [],
             frames: [{ name: "main", bbox: bbox, x0: 12, y0: 12 + h, sx: kx * s, sy: s, box: [12, 12, 976, h] }] };
  }

  function loadMap() {
    return api("GET", API + "/map", undefined, "default").then(function (m) {
      return m && m.frames && m.frames.length ? m : defaultMap();
    }, function () { return defaultMap(); }).then(function (m) {
      state.map = m;
      drawWards();
    });
  }

  function drawWards() {
    var m = state.map;
    clear(els.wards);
    els.wards.appendChild(svg("rect", { "class": "sens-sea", x: 0, y: 0, width: m.width, height: m.height }));
    m.wards.forEach(function (w) {
      var p = svg("path", { d: w.d, "class": "sens-ward", "data-code": w.code });
      p.appendChild(svg("title", null, locale === "en" ? (w.name_en || w.name) : w.name));
      els.wards.appendChild(p);
    });
    m.frames.forEach(function (f) {
      if (f.name === "inset") {
        els.wards.appendChild(svg("rect", { "class": "sens-inset", x: f.box[0] - 8, y: f.box[1] - 8,
                                            width: f.box[2] + 16, height: f.box[3] + 16 }));
      }
    });
    els.map.style.aspectRatio = m.width + " / " + m.height;
    els.mapNote.hidden = !!m.available;
    els.map.setAttribute("data-wards", String(m.wards.length));
    setView();
  }

  function project(lon, lat) {
    var frames = state.map.frames;
    var f = frames[0];
    for (var i = 0; i < frames.length; i++) {
      var b = frames[i].bbox;
      if (lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3]) { f = frames[i]; break; }
    }
    return [f.x0 + (lon - f.bbox[0]) * f.sx, f.y0 - (lat - f.bbox[1]) * f.sy];
  }

  function placed(s) {
    return typeof s.lat === "number" && typeof s.lon === "number" && isFinite(s.lat) && isFinite(s.lon);
  }

  // The view box: the whole city, or the sensors' area (padded, at least a few km wide), in the map's aspect.
  function viewBox() {
    var m = state.map;
    var full = [0, 0, m.width, m.height];
    if (state.extent === "city" || !state.data) { return full; }
    var pts = state.data.sensors.filter(placed).map(function (s) { return project(s.lon, s.lat); });
    if (!pts.length) { return full; }
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    pts.forEach(function (p) {
      x0 = Math.min(x0, p[0]); y0 = Math.min(y0, p[1]); x1 = Math.max(x1, p[0]); y1 = Math.max(y1, p[1]);
    });
    var aspect = m.width / m.height;
    var w = Math.max((x1 - x0) * 1.35, 40);
    var h = Math.max((y1 - y0) * 1.35, 40 / aspect);
    if (w / h > aspect) { h = w / aspect; } else { w = h * aspect; }
    if (w >= m.width || h >= m.height) { return full; }
    var cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return [cx - w / 2, cy - h / 2, w, h];
  }

  function setView() {
    if (!state.map) { return; }
    var vb = viewBox();
    state.view = vb;
    els.map.setAttribute("viewBox", vb.map(function (v) { return v.toFixed(1); }).join(" "));
    els.map.setAttribute("data-extent", state.extent);
    renderMarkers();
  }

  Array.prototype.forEach.call(root.querySelectorAll("[data-extent]"), function (b) {
    b.addEventListener("click", function () {
      state.extent = b.getAttribute("data-extent");
      Array.prototype.forEach.call(root.querySelectorAll("button[data-extent]"), function (o) {
        var on = o.getAttribute("data-extent") === state.extent;
        o.setAttribute("aria-pressed", on ? "true" : "false");
        o.classList.toggle("outline", !on);
      });
      setView();
    });
  });

  function markerLabel(s) {
    var parts = [sensorName(s), s.type_label, T.status[s.status] || s.status];
    var v = mainValue(s);
    if (v !== "–") { parts.push(attrInfo(s.type, s.main).label + " " + v); }
    return parts.join(", ");
  }

  function renderMarkers() {
    if (!state.map || !state.data) { return; }
    var vb = state.view || [0, 0, state.map.width, state.map.height];
    var r = vb[2] * 0.011;
    var seen = {};
    var order = [];
    var unplaced = 0;
    // alerts last, so that they are drawn on top
    var list = state.data.sensors.slice().sort(function (a, b) {
      return (STATUS_ORDER[b.status] || 0) - (STATUS_ORDER[a.status] || 0);
    });
    list.forEach(function (s) {
      if (!placed(s)) { unplaced += 1; return; }
      seen[s.entity_id] = true;
      var m = state.markers[s.entity_id];
      if (!m) {
        m = { g: svg("g", { "class": "sens-marker", tabindex: "0", role: "button", "data-testid": "marker",
                            "data-entity": s.entity_id }) };
        m.halo = svg("circle", { "class": "sens-halo" });
        m.dot = svg("circle", { "class": "sens-pin" });
        m.title = svg("title");
        m.g.appendChild(m.halo);
        m.g.appendChild(m.dot);
        m.g.appendChild(m.title);
        m.g.addEventListener("click", function () { select(s.entity_id, false); });
        m.g.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " " || ev.key === "Spacebar") {
            ev.preventDefault();
            select(m.g.getAttribute("data-entity"), false);
          }
        });
        state.markers[s.entity_id] = m;
      }
      var p = project(s.lon, s.lat);
      var selected = s.entity_id === state.selected;
      var rr = selected ? r * 1.35 : r;
      setAttrs(m.dot, { cx: p[0].toFixed(2), cy: p[1].toFixed(2), r: rr.toFixed(2) });
      setAttrs(m.halo, { cx: p[0].toFixed(2), cy: p[1].toFixed(2), r: (rr * 1.9).toFixed(2) });
      m.g.setAttribute("class", "sens-marker st-" + s.status + (selected ? " is-selected" : ""));
      m.g.setAttribute("data-status", s.status);
      m.g.setAttribute("aria-label", markerLabel(s));
      m.g.setAttribute("aria-pressed", selected ? "true" : "false");
      m.title.textContent = markerLabel(s);
      order.push(m.g);
    });
    // draw order (alerts on top); moving nodes only when it changed, keeping the keyboard focus
    var same = order.length === els.markers.children.length;
    for (var i = 0; same && i < order.length; i++) { same = els.markers.children[i] === order[i]; }
    if (!same) {
      var active = document.activeElement;
      order.forEach(function (g) { els.markers.appendChild(g); });
      if (active && els.markers.contains(active) && document.activeElement !== active) { active.focus(); }
    }
    Object.keys(state.markers).forEach(function (id) {
      if (!seen[id]) {
        var g = state.markers[id].g;
        if (g.parentNode) { g.parentNode.removeChild(g); }
        delete state.markers[id];
      }
    });
    els.unplaced.hidden = !unplaced;
    els.unplaced.textContent = unplaced ? unplaced + " " + T.sensors + " " + T.no_position + "." : "";
  }

  // ---------------------------------------------------------------- the sensor table

  function compare(a, b) {
    var k = state.sort.key;
    var d = 0;
    if (k === "status") {
      d = (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || (b.alerts || 0) - (a.alerts || 0);
    } else if (k === "type") {
      d = String(a.type_label).localeCompare(String(b.type_label), intl);
    } else if (k === "last_seen") {
      d = (parseTime(b.last_seen) || 0) - (parseTime(a.last_seen) || 0);
    }
    if (!d) { d = sensorName(a).localeCompare(sensorName(b), intl, { numeric: true }); }
    return d * state.sort.dir;
  }

  function renderTable() {
    var list = state.data.sensors.slice().sort(compare);
    var seen = {};
    var active = document.activeElement;
    var reorder = false;
    list.forEach(function (s, i) {
      seen[s.entity_id] = true;
      var row = state.rows[s.entity_id];
      if (!row) {
        row = { tr: el("tr", { "data-entity": s.entity_id, "data-testid": "sensor-row" }) };
        row.status = el("td");
        row.dot = el("span", { "aria-hidden": "true" });
        row.statusText = el("span");
        row.status.appendChild(row.dot);
        row.status.appendChild(document.createTextNode(" "));
        row.status.appendChild(row.statusText);
        row.nameCell = el("td");
        row.btn = el("button", { type: "button", "class": "sens-pick", "data-testid": "sensor-pick" });
        row.btn.addEventListener("click", function () { select(row.tr.getAttribute("data-entity"), true); });
        row.device = el("small", { "class": "muted" });
        row.nameCell.appendChild(row.btn);
        row.nameCell.appendChild(el("br"));
        row.nameCell.appendChild(row.device);
        row.type = el("td");
        row.value = el("td", { "data-testid": "sensor-value" });
        row.seen = el("td");
        [row.status, row.nameCell, row.type, row.value, row.seen].forEach(function (td) { row.tr.appendChild(td); });
        state.rows[s.entity_id] = row;
      }
      row.dot.className = "sens-dot st-" + s.status;
      row.statusText.textContent = (T.status[s.status] || s.status) + (s.alerts ? " (" + s.alerts + ")" : "");
      row.tr.setAttribute("data-status", s.status);
      row.btn.textContent = sensorName(s);
      row.btn.setAttribute("aria-pressed", s.entity_id === state.selected ? "true" : "false");
      row.device.textContent = s.device_id ? s.device_id : s.entity_id;
      row.type.textContent = s.type_label || s.type;
      row.value.textContent = mainValue(s);
      row.seen.textContent = when(s.last_seen);
      row.tr.classList.toggle("is-selected", s.entity_id === state.selected);
      if (els.rows.children[i] !== row.tr) { reorder = true; }
    });
    Object.keys(state.rows).forEach(function (id) {
      if (!seen[id]) {
        var tr = state.rows[id].tr;
        if (tr.parentNode) { tr.parentNode.removeChild(tr); }
        delete state.rows[id];
      }
    });
    if (reorder) {
      list.forEach(function (s) { els.rows.appendChild(state.rows[s.entity_id].tr); });
      if (active && els.rows.contains(active) && document.activeElement !== active) { active.focus(); }
    }
    if (!list.length) {
      var empty = el("tr", { "class": "sens-empty" });
      empty.appendChild(el("td", { colspan: "5", "class": "muted" }, T.no_sensors));
      els.rows.appendChild(empty);
    } else {
      Array.prototype.forEach.call(els.rows.querySelectorAll("tr.sens-empty"), function (tr) {
        els.rows.removeChild(tr);
      });
    }
    Array.prototype.forEach.call(root.querySelectorAll(".sens-table th[data-key]"), function (th) {
      if (th.getAttribute("data-key") === state.sort.key) {
        th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  Array.prototype.forEach.call(root.querySelectorAll("button.sens-sort"), function (b) {
    b.addEventListener("click", function () {
      var key = b.getAttribute("data-key");
      state.sort = { key: key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      if (state.data) { renderTable(); }
    });
  });

  // ---------------------------------------------------------------- alerts

  function renderAlerts() {
    var alerts = state.data.alerts;
    if (alerts === null || alerts === undefined) {
      els.alertNote.hidden = false;
      clear(els.alertList);
      state.alertItems = {};
      els.alertCount.textContent = "";
      return;
    }
    els.alertNote.hidden = true;
    els.alertCount.textContent = "(" + alerts.length + ")";
    var seen = {};
    alerts.forEach(function (a, i) {
      seen[a.id] = true;
      var item = state.alertItems[a.id];
      if (!item) {
        item = { li: el("li", { "class": "sens-alert", "data-testid": "alert", "data-alert": String(a.id), tabindex: "-1" }) };
        item.head = el("p", { "class": "sens-alert-head" });
        item.badge = el("span", { "class": "sens-sev" });
        item.msg = el("strong", { "class": "sens-alert-msg" });
        item.head.appendChild(item.badge);
        item.head.appendChild(document.createTextNode(" "));
        item.head.appendChild(item.msg);
        item.meta = el("p", { "class": "sens-alert-meta muted" });
        item.actions = el("p", { "class": "sens-alert-actions" });
        item.show = el("button", { type: "button", "class": "outline secondary small" }, T.show_sensor);
        item.show.addEventListener("click", function () { select(item.entity, true); });
        item.ack = el("button", { type: "button", "class": "small", "data-testid": "acknowledge" }, T.acknowledge);
        item.ack.addEventListener("click", function () { acknowledge(item); });
        item.err = el("span", { "class": "sens-alert-err", role: "alert" });
        item.actions.appendChild(item.show);
        item.actions.appendChild(item.ack);
        item.actions.appendChild(item.err);
        item.li.appendChild(item.head);
        item.li.appendChild(item.meta);
        item.li.appendChild(item.actions);
        state.alertItems[a.id] = item;
      }
      item.id = a.id;
      item.entity = a.entity_id;
      item.li.setAttribute("data-status", a.status);
      item.li.className = "sens-alert sev-" + (a.severity || "warning") + " al-" + a.status;
      item.badge.className = "sens-sev sev-" + (a.severity || "warning");
      item.badge.textContent = T.severity[a.severity] || a.severity || "";
      item.msg.textContent = a.message || a.attribute || "";
      var s = sensorById(a.entity_id);
      var meta = [s ? sensorName(s) : a.entity_id];
      meta.push((a.status === "acknowledged" ? T.acknowledged : T.open) + " " + T.since + " " + when(a.first_at));
      if (a.count > 1) { meta.push(a.count + " " + T.times); }
      if (a.last_at) { meta.push(when(a.last_at)); }
      item.meta.textContent = meta.join(" · ");
      item.show.hidden = !s;
      item.ack.hidden = !(staff && a.status === "open");
      if (els.alertList.children[i] !== item.li) { els.alertList.insertBefore(item.li, els.alertList.children[i] || null); }
    });
    Object.keys(state.alertItems).forEach(function (id) {
      if (!seen[id]) {
        var li = state.alertItems[id].li;
        if (li.parentNode) { li.parentNode.removeChild(li); }
        delete state.alertItems[id];
      }
    });
    var empty = els.alertList.querySelector(".sens-empty");
    if (!alerts.length && !empty) {
      els.alertList.appendChild(el("li", { "class": "sens-empty muted" }, T.no_alerts));
    } else if (alerts.length && empty) {
      els.alertList.removeChild(empty);
    }
  }

  function acknowledge(item) {
    item.ack.disabled = true;
    item.err.textContent = "";
    api("POST", API + "/alerts/" + encodeURIComponent(item.id) + "/acknowledge", {}).then(function () {
      announce(T.ack_done);
      item.li.focus();
      return refresh();
    }).catch(function (err) {
      item.err.textContent = err.message || T.error;
    }).then(function () {
      item.ack.disabled = false;
    });
  }

  // ---------------------------------------------------------------- the selected sensor

  function select(id, fromTable) {
    state.selected = id;
    keepInUrl();
    if (state.data) {
      renderMarkers();
      renderTable();
      renderPanel();
    }
    if (fromTable) {
      // the panel is where the details are: bring it into view on small screens
      var panel = $("sens-panel");
      if (panel.getBoundingClientRect().top > window.innerHeight || panel.getBoundingClientRect().bottom < 0) {
        panel.scrollIntoView({ block: "start" });
      }
    }
  }

  function renderPanel() {
    var s = state.selected ? sensorById(state.selected) : null;
    if (!s) {
      els.detail.hidden = true;
      els.hint.hidden = false;
      els.hint.textContent = state.selected ? T.not_listed : T.select_hint;
      els.title.textContent = panelTitleDefault;
      return;
    }
    els.hint.hidden = true;
    els.detail.hidden = false;
    els.title.textContent = sensorName(s);
    els.detail.setAttribute("data-entity", s.entity_id);
    clear(els.meta);
    var badge = el("span", { "class": "sens-badge st-" + s.status, "data-testid": "panel-status" }, T.status[s.status] || s.status);
    els.meta.appendChild(badge);
    var bits = [s.type_label || s.type];
    if (s.device_id) { bits.push(T.device + " " + s.device_id); }
    bits.push(T.last_seen + ": " + when(s.last_seen));
    if (s.alerts) { bits.push(s.alerts + " " + T.open_alerts); }
    els.meta.appendChild(document.createTextNode(" " + bits.join(" · ")));

    clear(els.latest);
    var attrs = Object.keys(s.latest || {});
    var order = state.data.types && state.data.types[s.type] ? Object.keys(state.data.types[s.type].attrs) : [];
    attrs.sort(function (a, b) {
      if (a === s.main) { return -1; }
      if (b === s.main) { return 1; }
      var ia = order.indexOf(a), ib = order.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    });
    attrs.forEach(function (k) {
      var v = s.latest[k];
      var info = attrInfo(s.type, k);
      var tr = el("tr", { "data-attr": k });
      tr.appendChild(el("th", { scope: "row" }, info.label));
      tr.appendChild(el("td", { "data-testid": k === s.main ? "latest-main" : "latest-value" }, formatValue(v.value, info.unit, v.unitCode)));
      tr.appendChild(el("td", null, when(v.observedAt)));
      els.latest.appendChild(tr);
    });
    if (!attrs.length) {
      var tr = el("tr");
      tr.appendChild(el("td", { colspan: "3", "class": "muted" }, T.no_series));
      els.latest.appendChild(tr);
    }
    var main = s.main;
    setChartTitle(s);
    var last = main && s.latest && s.latest[main] ? s.latest[main].observedAt : null;
    if (!main || !last) {
      state.series = null;
      state.forecast = null;
      state.seriesKey = state.forecastKey = null;
      drawChart();
      els.fcInfo.textContent = "";
      els.congestion.hidden = true;
      return;
    }
    var sKey = [s.entity_id, main, last].join("|");
    if (sKey !== state.seriesKey) {
      state.seriesKey = sKey;
      loadSeries(s, main, sKey);
    }
    var fKey = sKey + "|" + state.horizon;
    if (fKey !== state.forecastKey) {
      state.forecastKey = fKey;
      loadForecast(s, main, fKey);
    }
    drawChart();
  }

  function setChartTitle(s) {
    var title = fill(T.chart_title, { h: state.windowH });
    els.chartTitle.textContent = (s && s.main ? attrInfo(s.type, s.main).label + " — " : "") + title;
  }

  function loadSeries(s, attr, key) {
    var path = API + "/entities/" + encodeURIComponent(s.entity_id) + "/series?attribute=" + encodeURIComponent(attr) + "&hours=24";
    api("GET", path).then(function (d) {
      if (state.seriesKey !== key) { return; }
      var times = (d.times || []).map(parseTime);
      state.series = { key: key, entity: s.entity_id, attr: attr, times: times, values: d.values || [] };
      drawChart();
    }).catch(function (err) {
      if (state.seriesKey !== key) { return; }
      state.series = { key: key, entity: s.entity_id, attr: attr, times: [], values: [], error: err.message };
      drawChart();
    });
  }

  // One forecast request at a time: a newer one waits for it, and only the newest waiting one is sent.
  function loadForecast(s, attr, key) {
    els.fcInfo.textContent = T.forecasting;
    els.fcInfo.setAttribute("data-state", "loading");
    if (state.fcBusy) {
      state.fcNext = [s, attr, key];
      return;
    }
    state.fcBusy = true;
    fetchForecast(s, attr, key).then(function () {
      state.fcBusy = false;
      var next = state.fcNext;
      state.fcNext = null;
      if (next && next[2] === state.forecastKey) { loadForecast(next[0], next[1], next[2]); }
    });
  }

  function fetchForecast(s, attr, key) {
    var keep = state.forecast && state.forecast.entity === s.entity_id && state.forecast.attr === attr &&
      state.forecast.horizon === state.horizon;
    if (!keep) { state.forecast = null; }
    var horizon = state.horizon;
    return api("POST", API + "/forecast", { entity_id: s.entity_id, attribute: attr, horizon_minutes: horizon, level: 80 })
      .then(function (d) {
        if (state.forecastKey !== key) { return; }
        state.forecast = { key: key, entity: s.entity_id, attr: attr, horizon: horizon, data: d };
        drawChart();
      }).catch(function (err) {
        if (state.forecastKey !== key) { return; }
        state.forecast = { key: key, entity: s.entity_id, attr: attr, horizon: horizon, error: err.message || T.error };
        drawChart();
      });
  }

  els.horizon.addEventListener("change", function () {
    state.horizon = parseInt(els.horizon.value, 10) || 60;
    if (state.data) { renderPanel(); }
  });

  els.window.addEventListener("change", function () {
    state.windowH = parseInt(els.window.value, 10) || 24;
    setChartTitle(state.selected ? sensorById(state.selected) : null);
    drawChart();
  });

  // ---------------------------------------------------------------- the chart

  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) { hi = lo + 1; }
    var raw = (hi - lo) / Math.max(n, 1);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (k) { return k * mag; }).filter(function (v) { return v >= raw; })[0] || 10 * mag;
    var ticks = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) { ticks.push(+v.toFixed(10)); }
    return ticks;
  }

  function drawChart() {
    var chart = els.chart;
    Array.prototype.slice.call(chart.childNodes).forEach(function (n) {
      if (n !== els.chartDesc) { chart.removeChild(n); }
    });
    var s = state.selected ? sensorById(state.selected) : null;
    var series = state.series && s && state.series.entity === s.entity_id ? state.series : null;
    var fc = state.forecast && s && state.forecast.entity === s.entity_id ? state.forecast : null;
    var points = fc && fc.data ? fc.data.points || [] : [];
    var W = 640, H = 260, L = 52, R = 14, TOP = 12, B = 28;
    var info = s ? attrInfo(s.type, s.main) : { label: "", unit: "" };
    var unitCode = s && s.latest && s.latest[s.main] ? s.latest[s.main].unitCode : null;
    var scale = isRatio(unitCode) ? 100 : 1;
    var fmt = function (v) { return formatValue(v, info.unit, unitCode); };
    chart.setAttribute("data-points", series ? String(series.values.length) : "0");
    chart.setAttribute("data-forecast", points.length ? String(points.length) : "0");
    chart.setAttribute("data-last", series && series.values.length ? String(series.values[series.values.length - 1]) : "");

    if (!series || !series.times.length) {
      chart.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "sens-empty-chart" },
                            series && series.error ? series.error : (series ? T.no_series : T.updating)));
      els.chartDesc.textContent = series ? T.no_series : "";
    } else {
      var tLast = series.times[series.times.length - 1];
      var tStart = Math.max(series.times[0], tLast - state.windowH * HOUR);
      var fcTimes = points.map(function (p) { return parseTime(p.time); });
      var tEnd = Math.max(tLast, fcTimes.length ? fcTimes[fcTimes.length - 1] : tLast);
      if (tEnd - tStart < 10 * 60 * 1000) { tStart = tEnd - 10 * 60 * 1000; }
      var vis = [];
      for (var i = 0; i < series.times.length; i++) {
        if (series.times[i] >= tStart && series.values[i] !== null) { vis.push([series.times[i], series.values[i]]); }
      }
      var lo = Infinity, hi = -Infinity;
      vis.forEach(function (p) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); });
      points.forEach(function (p) { lo = Math.min(lo, p.lower, p.value); hi = Math.max(hi, p.upper, p.value); });
      if (lo === hi) { lo -= 1; hi += 1; }
      var pad = (hi - lo) * 0.06;
      var lo0 = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;
      var ticks = niceTicks(lo0 * scale, (hi + pad) * scale, 4).map(function (v) { return v / scale; });
      var y0 = Math.min(lo0, ticks[0]), y1 = Math.max(hi + pad, ticks[ticks.length - 1]);
      var X = function (t) { return L + (t - tStart) / (tEnd - tStart) * (W - L - R); };
      var Y = function (v) { return TOP + (1 - (v - y0) / (y1 - y0)) * (H - TOP - B); };

      var grid = svg("g", { "class": "sens-grid" });
      ticks.forEach(function (v) {
        grid.appendChild(svg("line", { x1: L, x2: W - R, y1: Y(v).toFixed(1), y2: Y(v).toFixed(1) }));
        grid.appendChild(svg("text", { x: L - 6, y: (Y(v) + 4).toFixed(1), "text-anchor": "end", "class": "sens-tick" },
                             isRatio(unitCode) ? number(v * 100, 0) + "%" : number(v, digitsFor(ticks[ticks.length - 1] - ticks[0]))));
      });
      var span = tEnd - tStart;
      var stepH = span > 12 * HOUR ? 3 : (span > 4 * HOUR ? 1 : (span > 1.5 * HOUR ? 0.5 : 0.25));
      var step = stepH * HOUR;
      var offset = 7 * HOUR;  // ticks on round hours of Viet Nam time
      for (var t = Math.ceil((tStart + offset) / step) * step - offset; t <= tEnd; t += step) {
        grid.appendChild(svg("line", { "class": "sens-vtick", x1: X(t).toFixed(1), x2: X(t).toFixed(1), y1: H - B, y2: H - B + 4 }));
        grid.appendChild(svg("text", { x: X(t).toFixed(1), y: H - 8, "text-anchor": "middle", "class": "sens-tick" },
                             fmtHM.format(new Date(t))));
      }
      grid.appendChild(svg("line", { "class": "sens-axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
      chart.appendChild(grid);
      if (info.unit && !isRatio(unitCode)) {
        chart.appendChild(svg("text", { x: 4, y: TOP + 2, "class": "sens-tick sens-unit" }, info.unit));
      }

      if (points.length) {
        var lastV = vis.length ? vis[vis.length - 1] : [tLast, points[0].value];
        var up = [[X(lastV[0]), Y(lastV[1])]], down = [];
        points.forEach(function (p, k) {
          up.push([X(fcTimes[k]), Y(p.upper)]);
          down.unshift([X(fcTimes[k]), Y(p.lower)]);
        });
        down.push([X(lastV[0]), Y(lastV[1])]);
        var band = up.concat(down).map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" ");
        chart.appendChild(svg("polygon", { points: band, "class": "sens-band", "data-testid": "forecast-band" }));
        var fline = [[X(lastV[0]), Y(lastV[1])]].concat(points.map(function (p, k) { return [X(fcTimes[k]), Y(p.value)]; }));
        chart.appendChild(svg("polyline", { points: fline.map(function (p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }).join(" "),
                                            "class": "sens-fc-line", "data-testid": "forecast-line" }));
        var xn = X(tLast);
        chart.appendChild(svg("line", { "class": "sens-now", x1: xn.toFixed(1), x2: xn.toFixed(1), y1: TOP, y2: H - B }));
        chart.appendChild(svg("text", { "class": "sens-tick sens-now-label", x: (xn - 4).toFixed(1), y: TOP + 10, "text-anchor": "end" }, T.now));
      }
      // the measured line, broken where values are missing for more than a few steps
      var gaps = [];
      for (var j = 1; j < vis.length; j++) { gaps.push(vis[j][0] - vis[j - 1][0]); }
      gaps.sort(function (a, b) { return a - b; });
      var typical = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 0;
      var d = "";
      vis.forEach(function (p, k) {
        var jump = k === 0 || (typical && p[0] - vis[k - 1][0] > typical * 4);
        d += (jump ? "M" : "L") + X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1);
      });
      if (d) { chart.appendChild(svg("path", { d: d, "class": "sens-line", "data-testid": "series-line" })); }
      if (vis.length) {
        var lp = vis[vis.length - 1];
        chart.appendChild(svg("circle", { cx: X(lp[0]).toFixed(1), cy: Y(lp[1]).toFixed(1), r: 3.2, "class": "sens-last" }));
      }
      var vals = vis.map(function (p) { return p[1]; });
      var desc = vals.length ? fill(T.chart_summary, {
        attr: info.label, h: state.windowH, n: vals.length, min: fmt(Math.min.apply(null, vals)), max: fmt(Math.max.apply(null, vals)),
        last: fmt(vals[vals.length - 1]) }) : T.no_series;
      if (points.length) {
        var pl = points[points.length - 1];
        desc += " " + fill(T.forecast_summary, { h: fc.horizon, method: fc.data.method, value: fmt(pl.value),
                                                  level: fc.data.level, lower: fmt(pl.lower), upper: fmt(pl.upper) });
      }
      els.chartDesc.textContent = desc;
    }
    renderForecastInfo(fc, info, unitCode);
  }

  function renderForecastInfo(fc, info, unitCode) {
    var fmt = function (v) { return formatValue(v, info.unit, unitCode); };
    clear(els.fcRows);
    els.congestion.hidden = true;
    clear(els.congestion);
    if (!fc) {
      els.fcInfo.textContent = state.forecastKey ? T.forecasting : "";
      els.fcInfo.setAttribute("data-state", state.forecastKey ? "loading" : "none");
      return;
    }
    if (fc.error) {
      els.fcInfo.textContent = T.forecast + ": " + fc.error;
      els.fcInfo.setAttribute("data-state", "error");
      return;
    }
    var d = fc.data;
    if (state.forecastKey === fc.key) { els.fcInfo.setAttribute("data-state", "done"); }
    var pts = d.points || [];
    var parts = [T.method + ": " + d.method];
    if (pts.length) {
      var pl = pts[pts.length - 1];
      parts.push(T.forecast + " " + fc.horizon + " " + T.minutes + ": " + fmt(pl.value) + " (" + fmt(pl.lower) + " – " + fmt(pl.upper) + ")");
    }
    if (typeof d.backtest_mae === "number") { parts.push(T.mae + " " + fmt(d.backtest_mae)); }
    els.fcInfo.textContent = parts.join(" · ");
    els.fcInfo.setAttribute("data-method", d.method || "");
    els.bandLabel.textContent = T.interval + " " + d.level + "%";
    pts.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(el("td", null, fmtHM.format(new Date(parseTime(p.time)))));
      tr.appendChild(el("td", null, fmt(p.value)));
      tr.appendChild(el("td", null, fmt(p.lower)));
      tr.appendChild(el("td", null, fmt(p.upper)));
      els.fcRows.appendChild(tr);
    });
    var c = d.congestion;
    if (c && c.horizons && c.horizons.length) {
      els.congestion.hidden = false;
      els.congestion.appendChild(el("h4", null, T.congestion));
      els.congestion.appendChild(el("p", { "class": "muted" }, T.congestion_hint + " " + formatValue(c.threshold, info.unit, unitCode)));
      var ul = el("ul", { "class": "sens-cong-list" });
      c.horizons.forEach(function (h) {
        var pct = Math.round((h.probability || 0) * 100);
        var li = el("li", { "data-minutes": String(h.minutes) });
        li.appendChild(el("span", { "class": "sens-cong-h" }, T.in_min + " " + h.minutes + " " + T.minutes));
        var bar = el("span", { "class": "sens-cong-bar", role: "img", "aria-label": pct + "%" });
        var fillBar = el("span", { "class": "sens-cong-fill" + (pct >= 50 ? " is-high" : "") });
        fillBar.style.width = pct + "%";
        bar.appendChild(fillBar);
        li.appendChild(bar);
        li.appendChild(el("strong", null, pct + "%"));
        if (typeof h.speed === "number") { li.appendChild(el("small", { "class": "muted" }, " ≈ " + fmt(h.speed))); }
        ul.appendChild(li);
      });
      els.congestion.appendChild(ul);
    }
  }

  // ---------------------------------------------------------------- start

  window.addEventListener("resize", function () { if (state.data) { renderMarkers(); } });
  loadMap().then(function () { return refresh(); });
  if (document.hidden) { els.updated.textContent = T.paused; }
})();
