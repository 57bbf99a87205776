// The dashboard: built on the public endpoints, same origin only. Each fetch revalidates its copy
// (cache: "no-cache"), so an unchanged table costs a 304 and no body.
"use strict";

const $ = (selector) => document.querySelector(selector);
let monthly = { all: [], withoutOutliers: [] };
let drawing = 0; // the latest chart asked for: an older answer arriving late is not drawn

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
    if (withForecast.ok && drawn === drawing) $("#chart").innerHTML = await withForecast.text();
  });
  const rows = (removeOutliers ? monthly.withoutOutliers : monthly.all).filter((row) => row.vegetable === vegetable);
  const outliers = rows.filter((row) => row.is_outlier).map((row) => row.year_month);
  $("#chart-caption").textContent =
    `${rows.length} months of ${vegetable}` +
    (outliers.length ? `; outlier months: ${outliers.join(", ")}` : removeOutliers ? "; outlier months left out" : "; no outlier month");
  $("#months tbody").replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      if (row.is_outlier) tr.className = "outlier";
      tr.append(cell(row.year_month), cell(kilos(row.kilo_sold), "number"), cell(row.is_outlier ? "outlier" : ""));
      return tr;
    }),
  );
  const forecast = await getJson(`/get_forecast?${query}&horizon=12`);
  $("#forecast-note").textContent = forecast.ok
    ? `Forecast: ${forecast.body.model}, trained on ${forecast.body.trained_on.months} months` +
      (forecast.body.trained_on.outlier_months_removed.length
        ? ` (outlier months replaced: ${forecast.body.trained_on.outlier_months_removed.join(", ")})`
        : "")
    : `No forecast: ${forecast.body && forecast.body.message ? forecast.body.message : "unavailable"}`;
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
  window.addEventListener("hashchange", route);
  try {
    await loadMonthly();
    await showSales();
  } catch (error) {
    $("#message").textContent = error.message;
  }
  route();
});
