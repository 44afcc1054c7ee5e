// Pantau dashboard: plain JS and SVG, no third-party code, no network beyond this service.
"use strict";

const I18N = {
  id: {
    title: "Dasbor Insiden Pemilu", range: "Rentang", last24h: "24 jam terakhir",
    last7d: "7 hari terakhir", last30d: "30 hari terakhir", logout: "Keluar",
    tokenLabel: "Token akses (dari `pantau token create`)", login: "Masuk",
    scope: "Wilayah", updated: "Diperbarui", totalReports: "Total laporan",
    critical: "Kritis", high: "Tinggi", medium: "Sedang", low: "Rendah", _none: "Belum diklasifikasi",
    mapTitle: "Peta insiden per provinsi", regionsTitle: "Insiden per wilayah",
    region: "Wilayah", count: "Jumlah", timeTitle: "Jumlah per jam menurut kategori",
    severityTitle: "Menurut tingkat keparahan", latestTitle: "Laporan kritis dan tinggi terbaru",
    time: "Waktu", category: "Kategori", severity: "Keparahan", status: "Status",
    alerts: "Peringatan", acknowledged: "diterima", pipelineTitle: "Kesehatan pipeline",
    topic: "Topik", lag: "Lag", operatorsOnly: "Hanya untuk operator.",
    national: "Nasional", noData: "Belum ada data", loadFailed: "Gagal memuat data",
    badToken: "Token tidak valid atau kedaluwarsa",
    statuses: { new: "baru", verified: "terverifikasi", rejected: "ditolak",
      in_follow_up: "ditindaklanjuti", resolved: "selesai", duplicate: "duplikat" },
  },
  en: {
    title: "Election Incident Dashboard", range: "Range", last24h: "Last 24 hours",
    last7d: "Last 7 days", last30d: "Last 30 days", logout: "Sign out",
    tokenLabel: "Access token (from `pantau token create`)", login: "Sign in",
    scope: "Region", updated: "Updated", totalReports: "Total reports",
    critical: "Critical", high: "High", medium: "Medium", low: "Low", _none: "Not yet classified",
    mapTitle: "Incidents by province", regionsTitle: "Incidents by region",
    region: "Region", count: "Count", timeTitle: "Hourly counts by category",
    severityTitle: "By severity", latestTitle: "Latest critical and high reports",
    time: "Time", category: "Category", severity: "Severity", status: "Status",
    alerts: "Alerts", acknowledged: "acknowledged", pipelineTitle: "Pipeline health",
    topic: "Topic", lag: "Lag", operatorsOnly: "Operators only.",
    national: "National", noData: "No data yet", loadFailed: "Could not load data",
    badToken: "Invalid or expired token",
    statuses: { new: "new", verified: "verified", rejected: "rejected",
      in_follow_up: "in follow-up", resolved: "resolved", duplicate: "duplicate" },
  },
};

const CATEGORIES = {
  bencana_alam: ["Bencana alam", "Natural disaster", "#0ea5e9"],
  logistik: ["Logistik", "Logistics", "#8b5cf6"],
  dpt_pemilih: ["DPT / pemilih", "Voter list", "#14b8a6"],
  politik_uang: ["Politik uang", "Vote buying", "#f59e0b"],
  netralitas_asn: ["Netralitas ASN", "Civil-servant neutrality", "#84cc16"],
  pelanggaran_administratif: ["Pelanggaran administratif", "Administrative breach", "#6366f1"],
  tindak_pidana_pemilu: ["Tindak pidana pemilu", "Election crime", "#dc2626"],
  pelanggaran_kode_etik: ["Pelanggaran kode etik", "Ethics breach", "#db2777"],
  pemungutan_suara_ulang: ["Pemungutan suara ulang", "Re-vote", "#0891b2"],
  keamanan: ["Keamanan", "Security", "#b91c1c"],
  hoaks: ["Hoaks", "Hoax", "#a855f7"],
  gangguan_teknis: ["Gangguan teknis", "Technical failure", "#475569"],
  not_an_incident: ["Bukan insiden", "Not an incident", "#cbd5e1"],
  _none: ["Belum diklasifikasi", "Not yet classified", "#e2e8f0"],
};
const SEVERITIES = ["critical", "high", "medium", "low", "_none"];
const SEVERITY_COLORS = { critical: "#b91c1c", high: "#ea580c", medium: "#ca8a04", low: "#64748b", _none: "#cbd5e1" };
const SVG_NS = "http://www.w3.org/2000/svg";
const MAP_BOUNDS = { west: 94.8, east: 141.2, north: 6.2, south: -11.2 };

const state = {
  lang: localStorage.getItem("pantau.lang") || "id",
  token: sessionStorage.getItem("pantau.token"),
  rangeHours: 24,
  provinces: null,
  selectedProvince: null,
  timer: null,
};

const $ = (id) => document.getElementById(id);
const t = (key) => I18N[state.lang][key] ?? key;
const categoryLabel = (slug) => (CATEGORIES[slug] || [slug, slug])[state.lang === "id" ? 0 : 1];
const categoryColor = (slug) => (CATEGORIES[slug] || ["", "", "#94a3b8"])[2];

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "id" ? "EN" : "ID";
  document.title = `Pantau — ${t("title")}`;
}

class AuthError extends Error {}

async function api(path, params) {
  const url = new URL(path, window.location.href);
  for (const [key, value] of Object.entries(params || {})) {
    for (const item of [].concat(value)) url.searchParams.append(key, item);
  }
  const response = await fetch(url, { headers: { Authorization: `Bearer ${state.token}` } });
  if (response.status === 401) throw new AuthError(t("badToken"));
  if (!response.ok) throw new Error(`${response.status} ${path}`);
  return response.json();
}

function projection(lon, lat) {
  const b = MAP_BOUNDS;
  return [((lon - b.west) / (b.east - b.west)) * 1000, ((b.north - lat) / (b.north - b.south)) * 380];
}

function pathOf(geometry) {
  let d = "";
  for (const polygon of geometry.coordinates) {
    for (const ring of polygon) {
      ring.forEach(([lon, lat], i) => {
        const [x, y] = projection(lon, lat);
        d += `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
      });
      d += "Z";
    }
  }
  return d;
}

function heat(count, max) {
  if (!count) return "#f1f5f9";
  const share = Math.min(1, count / Math.max(1, max));
  const light = 88 - Math.round(share * 50);
  return `hsl(0, 75%, ${light}%)`;
}

function renderMap(provinceCounts) {
  const map = $("map");
  map.replaceChildren();
  const max = Math.max(0, ...Object.values(provinceCounts));
  for (const feature of state.provinces.features) {
    const count = feature.properties.codes.reduce((sum, code) => sum + (provinceCounts[code] || 0), 0);
    const path = svg("path", {
      d: pathOf(feature.geometry),
      fill: heat(count, max),
      "data-code": feature.properties.code,
      "data-count": String(count),
    });
    path.append(svg("title", {}, `${feature.properties.name}: ${count}`));
    path.addEventListener("click", () => {
      state.selectedProvince = feature.properties.code;
      refresh();
    });
    map.append(path);
  }
  $("map-legend").replaceChildren(
    ...[0, 0.25, 0.5, 1].map((share) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = heat(share * max, max);
      span.append(swatch, String(Math.round(share * max)));
      return span;
    }),
  );
}

function renderTimeChart(byHour, start, end) {
  const chart = $("time-chart");
  chart.replaceChildren();
  const hours = [];
  const step = state.rangeHours > 48 ? 24 : 1; // daily bars beyond two days
  for (let at = start.getTime(); at < end.getTime(); at += step * 3600e3) hours.push(at);
  const slots = hours.map(() => ({}));
  for (const { hour, by_category } of byHour) {
    const index = Math.floor((Date.parse(hour) - start.getTime()) / (step * 3600e3));
    if (index < 0 || index >= slots.length) continue;
    for (const [category, count] of Object.entries(by_category)) {
      slots[index][category] = (slots[index][category] || 0) + count;
    }
  }
  const totals = slots.map((slot) => Object.values(slot).reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const width = 960 / Math.max(1, slots.length);
  chart.append(svg("line", { x1: 30, y1: 230, x2: 990, y2: 230, stroke: "#94a3b8" }));
  chart.append(svg("text", { x: 0, y: 20, "font-size": 12, fill: "#64748b" }, String(max)));
  const seen = new Set();
  slots.forEach((slot, i) => {
    let y = 230;
    for (const category of Object.keys(CATEGORIES)) {
      const count = slot[category] || 0;
      if (!count) continue;
      seen.add(category);
      const height = (count / max) * 210;
      y -= height;
      const bar = svg("rect", {
        x: 30 + i * width + 1, y, width: Math.max(1, width - 2), height,
        fill: categoryColor(category), class: "bar", "data-category": category,
      });
      bar.append(svg("title", {}, `${categoryLabel(category)}: ${count}`));
      chart.append(bar);
    }
    if (i % Math.ceil(slots.length / 12) === 0) {
      const label = new Date(hours[i]);
      const text = step === 1
        ? label.toLocaleTimeString(state.lang, { hour: "2-digit", minute: "2-digit" })
        : label.toLocaleDateString(state.lang, { day: "numeric", month: "short" });
      chart.append(svg("text", { x: 30 + i * width, y: 250, "font-size": 11, fill: "#64748b" }, text));
    }
  });
  $("category-legend").replaceChildren(
    ...[...seen].map((category) => {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = categoryColor(category);
      span.append(swatch, categoryLabel(category));
      return span;
    }),
  );
}

function renderSeverityChart(bySeverity) {
  const chart = $("severity-chart");
  chart.replaceChildren();
  const max = Math.max(1, ...Object.values(bySeverity));
  SEVERITIES.forEach((severity, i) => {
    const count = bySeverity[severity] || 0;
    const y = 10 + i * 38;
    chart.append(svg("text", { x: 0, y: y + 20, "font-size": 13, fill: "#0f172a" }, t(severity)));
    const bar = svg("rect", {
      x: 140, y, width: Math.max(count ? 2 : 0, (count / max) * 220), height: 26,
      fill: SEVERITY_COLORS[severity], class: "bar", "data-severity": severity,
    });
    chart.append(bar);
    chart.append(svg("text", { x: 146 + (count / max) * 220, y: y + 19, "font-size": 13 }, String(count)));
  });
}

function renderRegions(stats) {
  const body = $("regions").tBodies[0];
  body.replaceChildren();
  $("regions-scope").textContent = stats.scope === "ID" ? `(${t("national")})` : `(${stats.region_names[stats.scope] || stats.scope})`;
  const rows = Object.entries(stats.by_region).sort((a, b) => b[1] - a[1]);
  if (!rows.length) cell(body.insertRow(), t("noData")).colSpan = 2;
  for (const [code, count] of rows.slice(0, 15)) {
    const row = body.insertRow();
    cell(row, `${stats.region_names[code] || code} (${code})`);
    cell(row, String(count), "num");
  }
}

function renderLatest(reports) {
  const body = $("latest").tBodies[0];
  body.replaceChildren();
  if (!reports.length) cell(body.insertRow(), t("noData")).colSpan = 6;
  for (const report of reports) {
    const row = body.insertRow();
    cell(row, new Date(report.occurred_at).toLocaleString(state.lang, { dateStyle: "short", timeStyle: "short" }));
    cell(row, report.region_name || (report.region && report.region.code) || "—");
    cell(row, report.classification ? categoryLabel(report.classification.category) : "—");
    const severity = report.classification ? report.classification.severity : "_none";
    cell(row, t(severity), `sev ${severity}`);
    cell(row, t("statuses")[report.status] || report.status);
    const alerts = report.alert_summary || { total: 0 };
    cell(row, `${alerts.total}${alerts.acknowledged ? ` · ${t("acknowledged")} ✓` : ""}`);
  }
}

function renderPipeline(health) {
  const body = $("pipeline").tBodies[0];
  body.replaceChildren();
  $("pipeline-note").hidden = Boolean(health);
  if (!health) return;
  for (const [topic, lag] of Object.entries(health.consumer_lag.reporting)) {
    const row = body.insertRow();
    cell(row, topic.split(".").slice(-2).join("."));
    cell(row, String(lag), "num");
    cell(row, String(health.dlq_messages[topic] || 0), "num");
  }
}

async function refresh() {
  const end = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3);
  const start = new Date(end.getTime() - state.rangeHours * 3600e3);
  const range = { from: start.toISOString(), to: end.toISOString() };
  try {
    if (!state.provinces) state.provinces = await (await fetch("static/indonesia-provinces.geojson")).json();
    const overview = await api("v1/stats", range);
    const provinceScope = state.selectedProvince || (overview.scope !== "ID" ? overview.scope : null);
    const [regional, latest, health] = await Promise.all([
      provinceScope && provinceScope !== overview.scope ? api("v1/stats", { ...range, region: provinceScope }) : overview,
      api("v1/reports", { severity: ["critical", "high"], limit: 10, ...range }),
      api("v1/pipeline").catch(() => null),
    ]);
    const provinceCounts = overview.scope === "ID" ? overview.by_region : { [overview.scope.slice(0, 2)]: overview.total };
    $("scope").textContent = overview.scope === "ID" ? t("national") : `${overview.region_names[overview.scope] || ""} (${overview.scope})`;
    $("total-all").textContent = String(overview.total);
    for (const severity of ["critical", "high", "medium", "low"]) {
      $(`total-${severity}`).textContent = String(overview.by_severity[severity] || 0);
    }
    renderMap(provinceCounts);
    renderTimeChart(overview.by_hour, start, end);
    renderSeverityChart(overview.by_severity);
    renderRegions(regional);
    renderLatest(latest.items);
    renderPipeline(health);
    $("updated").textContent = new Date().toLocaleTimeString(state.lang);
    $("error").hidden = true;
    document.body.dataset.state = "ready";
  } catch (error) {
    if (error instanceof AuthError) return showLogin(error.message);
    $("error").textContent = `${t("loadFailed")}: ${error.message}`;
    $("error").hidden = false;
    document.body.dataset.state = "error";
  }
}

function showLogin(message) {
  clearInterval(state.timer);
  sessionStorage.removeItem("pantau.token");
  state.token = null;
  $("main").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  document.body.dataset.state = "login";
}

function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  refresh();
  const seconds = Number(document.body.dataset.refreshSeconds) || 15;
  clearInterval(state.timer);
  state.timer = setInterval(refresh, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  // A token may come in the fragment (never sent to a server); keep it for this tab only.
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("token")) {
    state.token = fragment.get("token");
    sessionStorage.setItem("pantau.token", state.token);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  if (fragment.get("lang") in I18N) state.lang = fragment.get("lang");
  applyLanguage();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "id" ? "en" : "id";
    localStorage.setItem("pantau.lang", state.lang);
    applyLanguage();
    if (state.token) refresh();
  });
  $("range").addEventListener("change", (event) => {
    state.rangeHours = Number(event.target.value);
    refresh();
  });
  $("logout").addEventListener("click", () => showLogin());
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("pantau.token", state.token);
    start();
  });
  if (state.token) start();
  else showLogin();
});
