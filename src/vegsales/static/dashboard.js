// The dashboard: built on the public endpoints, same origin only. Each fetch revalidates its copy
// (cache: "no-cache"), so an unchanged table costs a 304 and no body.
"use strict";

const $ = (selector) => document.querySelector(selector);
let monthly = { all: [], withoutOutliers: [] };
let drawing = 0; // the latest chart asked for: an older answer arriving late is not drawn
let shown = null; // { vegetable, removeOutliers }: the selection last drawn, to which the month range applies
let visible = []; // the monthly rows in the table, as the CSV download writes them
let downloadUrl = "";
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const CSV_HEADER = ["year_month", "vegetable", "kilo_sold", "is_outlier"];

async function getJson(path) {
  const response = await fetch(path, { cache: "no-cache", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function kilos(value) {
  return value.toLocaleString("en", { maximumFractionDigits: 1 });
}

async function loadMonthly() {
  const [all, safe] = await Promise.all([
    getJson("/get_monthly_sales?remove_outliers=false"),
    getJson("/get_monthly_sales?remove_outliers=true"),
  ]);
  if (!all.ok || !safe.ok) throw new Error("the monthly sales could not be read");
  monthly = { all: all.body, withoutOutliers: safe.body };
  const names = [...new Set(monthly.all.map((row) => row.vegetable))].sort();
  $("#vegetables").replaceChildren(...names.map((name) => Object.assign(document.createElement("option"), { value: name })));
}

async function resolve(name) {
  const answer = await getJson(`/resolve_vegetable?name=${encodeURIComponent(name)}`);
  if (answer.ok) return answer.body.vegetable;
  throw new Error(answer.body && answer.body.message ? answer.body.message : `no vegetable named ${name}`);
}

async function showSales() {
  $("#message").textContent = "";
  const removeOutliers = $("#remove-outliers").checked;
  let vegetable;
  try {
    vegetable = await resolve($("#vegetable").value.trim());
  } catch (error) {
    $("#message").textContent = error.message;
    return;
  }
  $("#canonical").textContent = `shown as: ${vegetable}`;
  const query = `vegetable=${encodeURIComponent(vegetable)}&remove_outliers=${removeOutliers}`;
  // The months at once, then the same chart with the forecast's bands (a first fit takes seconds).
  const drawn = ++drawing;
  const chart = await fetch(`/dashboard/chart.svg?${query}&forecast=false`, { cache: "no-cache" });
  if (drawn !== drawing) return;
  $("#chart").innerHTML = chart.ok ? await chart.text() : "";
  if (!performance.getEntriesByName("chart-drawn").length) performance.mark("chart-drawn");
  fetch(`/dashboard/chart.svg?${query}`, { cache: "no-cache" }).then(async (withForecast) => {
    if (!withForecast.ok || drawn !== drawing) return;
    $("#chart").innerHTML = await withForecast.text();
    clipChart(monthRange());
  });
  shown = { vegetable, removeOutliers };
  render();
  const forecast = await getJson(`/get_forecast?${query}&horizon=12`);
  $("#forecast-note").textContent = forecast.ok
    ? `Forecast: ${forecast.body.model}, trained on ${forecast.body.trained_on.months} months` +
      (forecast.body.trained_on.outlier_months_removed.length
        ? ` (outlier months replaced: ${forecast.body.trained_on.outlier_months_removed.join(", ")})`
        : "")
    : `No forecast: ${forecast.body && forecast.body.message ? forecast.body.message : "unavailable"}`;
}

// The month range: "" is an open end; months written YYYY-MM compare as text.
function monthRange() {
  const from = $("#from-month").value.trim();
  const to = $("#to-month").value.trim();
  let error = "";
  for (const [name, value] of [["From", from], ["To", to]]) {
    if (value && !MONTH.test(value) && !error) error = `${name} must be a month written YYYY-MM, such as 2021-03.`;
  }
  if (!error && from && to && from > to) error = `No months to show: from ${from} is after to ${to}. Pick a "from" month no later than the "to" month.`;
  return { from, to, error };
}

function inRange(range, yearMonth) {
  return (!range.from || yearMonth >= range.from) && (!range.to || yearMonth <= range.to);
}

function rangeText(range) {
  if (range.from && range.to) return `, ${range.from} to ${range.to}`;
  if (range.from) return `, from ${range.from}`;
  return range.to ? `, up to ${range.to}` : "";
}

// The shown vegetable's months within the range: the table, the caption, the chart and the download agree.
function render() {
  if (!shown) return;
  const { vegetable, removeOutliers } = shown;
  const range = monthRange();
  const valid = !range.error;
  $("#range-message").textContent = range.error;
  for (const input of ["#from-month", "#to-month"]) $(input).setAttribute("aria-invalid", String(!valid));
  $("#chart").hidden = !valid;
  $("#months").hidden = !valid;
  $("#download").disabled = !valid;
  visible = valid
    ? (removeOutliers ? monthly.withoutOutliers : monthly.all).filter((row) => row.vegetable === vegetable && inRange(range, row.year_month))
    : [];
  const outliers = visible.filter((row) => row.is_outlier).map((row) => row.year_month);
  $("#chart-caption").textContent = valid
    ? `${visible.length} months of ${vegetable}${rangeText(range)}` +
      (outliers.length ? `; outlier months: ${outliers.join(", ")}` : removeOutliers ? "; outlier months left out" : "; no outlier month")
    : "";
  $("#months tbody").replaceChildren(
    ...visible.map((row) => {
      const tr = document.createElement("tr");
      if (row.is_outlier) tr.className = "outlier";
      tr.append(cell(row.year_month), cell(kilos(row.kilo_sold), "number"), cell(row.is_outlier ? "outlier" : ""));
      return tr;
    }),
  );
  if (valid) clipChart(range);
}

function monthIndex(yearMonth) {
  return Number(yearMonth.slice(0, 4)) * 12 + Number(yearMonth.slice(5, 7)) - 1;
}

// The chart is drawn on the server for the whole history: months outside the range are hidden, and the
// lines and bands clipped to it. Months are evenly spaced along x, so two points give every month's x.
function clipChart(range) {
  const svg = $("#chart svg");
  if (!svg) return;
  const points = [...svg.querySelectorAll("circle[data-month]")];
  for (const point of points) {
    const display = inRange(range, point.dataset.month) ? "inline" : "none";
    point.setAttribute("display", display);
    const label = point.nextElementSibling;
    if (label && label.classList.contains("outlier-label")) label.setAttribute("display", display);
  }
  if (points.length < 2) return;
  const [first, last] = [points[0], points[points.length - 1]];
  const perMonth = (last.cx.baseVal.value - first.cx.baseVal.value) / (monthIndex(last.dataset.month) - monthIndex(first.dataset.month));
  const x = (yearMonth) => first.cx.baseVal.value + (monthIndex(yearMonth) - monthIndex(first.dataset.month)) * perMonth;
  const box = svg.viewBox.baseVal;
  const left = Math.max(range.from ? x(range.from) : box.x, box.x);
  const right = Math.min(range.to ? x(range.to) : box.x + box.width, box.x + box.width);
  let rect = svg.querySelector("#range-clip rect");
  if (!rect) {
    const clip = document.createElementNS(svg.namespaceURI, "clipPath");
    clip.id = "range-clip";
    rect = clip.appendChild(document.createElementNS(svg.namespaceURI, "rect"));
    svg.prepend(clip);
  }
  const bounds = { x: left, y: box.y, width: Math.max(right - left, 0), height: box.height };
  for (const [name, value] of Object.entries(bounds)) rect.setAttribute(name, String(value));
  for (const shape of svg.querySelectorAll("polyline.sales, polyline.forecast, polygon.band80, polygon.band95")) {
    shape.setAttribute("clip-path", "url(#range-clip)");
  }
}

// RFC 4180: a field holding a comma, a double quote or a line break is quoted, its quotes doubled.
function csvField(value) {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// Kilos as the JSON gives them (String keeps every digit of a double); lines end with CRLF.
function csvOf(rows) {
  const records = [CSV_HEADER, ...rows.map((row) => [row.year_month, row.vegetable, row.kilo_sold, row.is_outlier])];
  return records.map((fields) => fields.map(csvField).join(",") + "\r\n").join("");
}

function download() {
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([csvOf(visible)], { type: "text/csv;charset=utf-8" }));
  Object.assign(document.createElement("a"), { href: downloadUrl, download: "monthly_sales.csv" }).click();
}

async function showRejected() {
  const [rejected, quality] = await Promise.all([getJson("/get_rejected_sales?limit=1000"), getJson("/get_data_quality")]);
  if (rejected.ok) {
    const { total, dropped, rows } = rejected.body;
    $("#rejected-summary").textContent = `${rows.length} of ${total} rejected records shown, the most recent first; ${dropped} dropped to stay within the bound.`;
    $("#rejected tbody").replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        const record = document.createElement("td");
        record.append(Object.assign(document.createElement("code"), { textContent: row.record_is_text ? row.record : JSON.stringify(row.record) }));
        const reasons = row.errors.map((error) => `${error.field}: ${error.message}`).join("; ");
        tr.append(cell(row.last_received), cell(String(row.times), "number"), record, cell(reasons));
        return tr;
      }),
    );
  }
  if (quality.ok) {
    const feed = quality.body.feed;
    const share = feed.recent_rejected_share === null ? "no records received yet" : `${(100 * feed.recent_rejected_share).toFixed(1)} % of the last ${feed.recent_records} records rejected`;
    const names = feed.most_rejected_names.map((entry) => `${entry.vegetable} (${entry.times})`).join(", ");
    $("#feed-quality").textContent = `${share}${names ? `; most rejected names: ${names}` : ""}.`;
    $("#quality tbody").replaceChildren(
      ...quality.body.vegetables.map((v) => {
        const tr = document.createElement("tr");
        tr.append(cell(v.vegetable), cell(String(v.weeks), "number"), cell(v.first_week), cell(v.last_week), cell(String(v.missing_weeks), "number"), cell(v.latest_z === null ? "" : v.latest_z.toFixed(2), "number"));
        return tr;
      }),
    );
  }
}

function route() {
  const rejected = location.hash === "#rejected";
  $("#sales-view").hidden = rejected;
  $("#rejected-view").hidden = !rejected;
  for (const [link, current] of [["#show-sales", !rejected], ["#show-rejected", rejected]]) {
    if (current) $(link).setAttribute("aria-current", "page");
    else $(link).removeAttribute("aria-current");
  }
  if (rejected) showRejected();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#picker").addEventListener("submit", (event) => {
    event.preventDefault();
    showSales();
  });
  $("#remove-outliers").addEventListener("change", showSales);
  $("#range").addEventListener("change", render);
  $("#range").addEventListener("submit", (event) => event.preventDefault());
  $("#download").addEventListener("click", download);
  window.addEventListener("hashchange", route);
  try {
    await loadMonthly();
    await showSales();
  } catch (error) {
    $("#message").textContent = error.message;
  }
  route();
});
