// The dashboard: ticker, rates table, history chart, converter and source health, kept live by /rates/stream.
import {
  ApiError,
  LiveRates,
  MARKS,
  Marquee,
  ago,
  el,
  getJSON,
  parseExact,
  percent,
  plain,
  sign,
  tickerEntry,
  utc,
} from "./fx.js";

const PERIODS = ["24h", "7d", "30d"];
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
// Each range at an interval that gives a readable number of points (the API allows 10,000 buckets).
const RANGES = {
  "1d": { back: DAY, interval: "1h" },
  "7d": { back: 7 * DAY, interval: "1h" },
  "30d": { back: 30 * DAY, interval: "1h" },
  "1y": { back: 365 * DAY, interval: "1d" },
  all: { back: null, interval: null },
};
const INTERVAL_WORDS = { "1h": "hourly", "1d": "daily", "1w": "weekly" };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// Time axis labels in UTC, 24-hour: "14:00" (a date at midnight), "24 Nov", "Nov" (the year in January).
function timeLabels(u, splits, axis, space, increment) {
  return splits.map((seconds) => {
    const date = new Date(seconds * 1000);
    const day = `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
    if (increment < DAY / 1000) {
      return date.getUTCHours() || date.getUTCMinutes() ? date.toISOString().slice(11, 16) : day;
    }
    if (increment < 28 * (DAY / 1000)) return day;
    return date.getUTCMonth() ? MONTHS[date.getUTCMonth()] : String(date.getUTCFullYear());
  });
}

const state = {
  currencies: [], // [{code, name, first_date, ...}] in configured order
  latestText: null,
  latest: null,
  changes: {},
  sources: null,
  selected: null,
  range: "7d",
  lastUpdate: null,
};

const $ = (selector) => document.querySelector(selector);

function debounce(action, wait) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(action, wait);
  };
}

function showError(where, error) {
  if (!(error instanceof ApiError) && !(error instanceof TypeError)) throw error;
  where.replaceChildren(el("span", { class: "error", text: error.message }));
}

// ---- Latest rates: ticker and table ---------------------------------------------------------------------

const marquee = new Marquee($("#ticker"), { label: "Latest rates" });

function applyLatest(text) {
  if (text === state.latestText) return false;
  state.latestText = text;
  state.latest = parseExact(text);
  state.lastUpdate = Date.now();
  renderLatest();
  return true;
}

function renderLatest() {
  const latest = state.latest;
  if (!latest) return;
  const now = Date.now();
  marquee.show(latest.rates.map((rate) => tickerEntry(rate, { now })));
  renderTable(now);
  $("#rates-note").textContent = latest.as_of ? `As of ${utc(latest.as_of)}.` : "No rates yet.";
  const attribution = $("#attribution");
  attribution.hidden = !latest.attribution?.length;
  attribution.textContent = (latest.attribution ?? []).join(" ");
}

function changeCell(change) {
  if (!change) return el("td", { class: "num none", text: "—", title: "no data in this period" });
  const direction = sign(change.change_pct);
  return el(
    "td",
    {
      class: `num ${["down", "flat", "up"][direction + 1]}`,
      title: `${plain(change.start_rate)} at ${utc(change.start_at)} → ${plain(change.end_rate)} at ${utc(change.end_at)}`,
    },
    el("span", { class: "mark", "aria-hidden": "true", text: MARKS[direction] }),
    `${direction < 0 ? "−" : direction > 0 ? "+" : ""}${percent(change.change_pct)}`,
  );
}

function renderTable(now) {
  const byCode = new Map((state.latest?.rates ?? []).map((rate) => [rate.currency, rate]));
  const rows = state.currencies.map(({ code, name }) => {
    const rate = byCode.get(code);
    const heading = el(
      "th",
      { scope: "row" },
      el("span", { class: "code", text: code }),
      el("span", { class: "name", text: name }),
    );
    if (!rate) {
      return el("tr", { "data-currency": code }, heading, el("td", { colspan: "8", class: "none", text: "no data yet" }));
    }
    if (rate.stale) heading.append(el("span", { class: "stale-badge", text: "stale" }));
    const source = el("td", { class: "source" }, rate.source);
    if (rate.effective_date) source.append(el("span", { class: "sub", text: `effective ${rate.effective_date}` }));
    return el(
      "tr",
      { "data-currency": code, class: rate.stale ? "stale" : null },
      heading,
      el("td", { class: "num rate", text: plain(rate.rate) }),
      el("td", { class: "num inverse", text: plain(rate.inverse) }),
      source,
      el("td", {}, el("time", { datetime: rate.since, text: utc(rate.since) })),
      el("td", {}, el("time", { datetime: rate.last_seen, title: utc(rate.last_seen, { seconds: true }), text: ago(rate.last_seen, now) })),
      ...PERIODS.map((period) => changeCell(state.changes[period]?.get(code))),
    );
  });
  $("#rates-table tbody").replaceChildren(...rows);
}

async function loadLatest() {
  try {
    return applyLatest((await getJSON("/rates/latest")).text);
  } catch (error) {
    showError($("#rates-note"), error);
    if (!state.latest) marquee.say(error.message);
    return false;
  }
}

async function loadChanges() {
  const answers = await Promise.allSettled(PERIODS.map((period) => getJSON(`/rates/changes?period=${period}`)));
  answers.forEach((answer, i) => {
    if (answer.status === "fulfilled") {
      state.changes[PERIODS[i]] = new Map(answer.value.data.changes.map((change) => [change.currency, change]));
    }
  });
  renderTable(Date.now());
}

// ---- Source health --------------------------------------------------------------------------------------

function renderSources(now) {
  if (!state.sources) return;
  const rows = state.sources.map((source) => {
    const name = el("th", { scope: "row" }, el("span", { class: "code", text: source.name }));
    name.append(el("span", { class: "sub", text: source.title }));
    if (!source.enabled) name.append(el("span", { class: "badge", text: "disabled" }));
    // Polled and compared, never served: its terms forbid it (the title says why and which setting allows it).
    if (source.enabled && !source.served) {
      name.append(el("span", { class: "badge", title: source.not_served_because, text: "cross-check only" }));
    }
    const success = source.last_success
      ? el("time", { datetime: source.last_success, title: utc(source.last_success, { seconds: true }), text: ago(source.last_success, now) })
      : "never";
    const error = el("td", { class: "error-cell" });
    if (source.last_error) {
      error.append(
        el("span", { text: source.last_error }),
        el("time", { class: "sub", datetime: source.last_error_at, text: ago(source.last_error_at, now) }),
      );
    } else {
      error.append("—");
    }
    if (source.last_rejections) error.append(el("span", { class: "sub", text: `rejected: ${source.last_rejections}` }));
    const failures = el("td", { class: `num${source.consecutive_failures > 0 ? " down" : ""}`, text: String(source.consecutive_failures) });
    if (source.backoff_until) failures.append(el("span", { class: "sub", text: `waits until ${utc(source.backoff_until)}` }));
    const flags = el("td");
    if (source.recent_flags.length === 0) flags.append(el("span", { class: "none", text: "none" }));
    for (const flag of source.recent_flags) {
      flags.append(el("span", { class: "flag", title: utc(flag.raised_at), text: `${flag.currency} ${flag.kind}: ${flag.detail}` }));
    }
    return el(
      "tr",
      { class: source.enabled ? null : "disabled" },
      name,
      el("td", {}, success),
      error,
      failures,
      flags,
    );
  });
  $("#sources-table tbody").replaceChildren(...rows);
}

async function loadSources() {
  try {
    state.sources = (await getJSON("/sources")).data.sources;
    renderSources(Date.now());
  } catch (error) {
    const cell = el("td", { colspan: "5" });
    $("#sources-table tbody").replaceChildren(el("tr", {}, cell));
    showError(cell, error);
  }
}

// ---- The chart ------------------------------------------------------------------------------------------

function floorTo(time, interval) {
  const date = new Date(time);
  date.setUTCMinutes(0, 0, 0);
  if (interval !== "1h") date.setUTCHours(0);
  if (interval === "1w") date.setUTCDate(date.getUTCDate() - ((date.getUTCDay() + 6) % 7)); // Monday
  return date;
}

// The range as the API's query: a start on a bucket boundary (so answers are the same all hour long and the
// server's cache holds them) and no end, which is "now".
function rangeQuery(currency, range) {
  let { back, interval } = RANGES[range];
  let start;
  if (back === null) {
    const first = state.currencies.find((c) => c.code === currency)?.first_date;
    start = first ? new Date(`${first}T00:00:00Z`) : new Date(Date.now() - 30 * DAY);
    const days = (Date.now() - start) / DAY;
    interval = days <= 3 ? "1h" : days <= 3650 ? "1d" : "1w";
    start = floorTo(start, interval);
  } else {
    start = new Date(floorTo(Date.now(), interval) - back);
  }
  const iso = start.toISOString().replace(".000Z", "Z");
  return { start: iso, interval };
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

class Chart {
  constructor(box, caption) {
    this.box = box;
    this.caption = caption;
    this.points = [];
    this.plot = null;
    this.tooltip = el("div", { class: "tooltip", hidden: true });
    this.request = null;
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(box);
    box.addEventListener("keydown", (event) => this.key(event));
    box.addEventListener("blur", () => this.plot?.setCursor({ left: -10, top: -10 }));
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.draw());
  }

  size() {
    const width = Math.max(240, this.box.clientWidth);
    return { width, height: Math.round(Math.min(420, Math.max(220, width * 0.45))) };
  }

  async load(currency, range) {
    const query = rangeQuery(currency, range);
    const params = new URLSearchParams({ start: query.start, interval: query.interval });
    $("#chart-csv").href = `/rates/export.csv?${new URLSearchParams({ currencies: currency, ...query })}`;
    $("#chart-csv").textContent = `Download ${currency} ${INTERVAL_WORDS[query.interval]} rates as CSV`;
    this.request?.abort();
    this.request = new AbortController();
    try {
      const { data } = await getJSON(`/rates/${currency}/history?${params}`, { signal: this.request.signal });
      this.currency = currency;
      this.source = data.source;
      this.interval = query.interval;
      this.points = data.points;
      this.draw();
    } catch (error) {
      if (error.name === "AbortError") return;
      this.points = [];
      this.plot?.destroy();
      this.plot = null;
      showError(this.caption, error);
    }
  }

  data() {
    const number = (value) => (value === null || value === undefined ? null : Number(value));
    return [
      this.points.map((point) => Date.parse(point.t) / 1000),
      this.points.map((point) => number(point.high)),
      this.points.map((point) => number(point.low)),
      this.points.map((point) => number(point.close)),
    ];
  }

  options() {
    const stepped = uPlot.paths.stepped({ align: 1 });
    const text = cssVar("--muted");
    const grid = cssVar("--grid");
    return {
      ...this.size(),
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { size: 7 } },
      scales: { x: { time: true } },
      series: [
        {},
        { label: "high", stroke: cssVar("--band-edge"), width: 1, paths: stepped, points: { show: false } },
        { label: "low", stroke: cssVar("--band-edge"), width: 1, paths: stepped, points: { show: false } },
        { label: "close", stroke: cssVar("--accent"), width: 2, paths: stepped },
      ],
      bands: [{ series: [1, 2], fill: cssVar("--band") }],
      axes: [
        { stroke: text, grid: { stroke: grid }, ticks: { stroke: grid }, values: timeLabels },
        {
          stroke: text,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          values: (u, splits) => splits.map((value) => plain(+value.toPrecision(6))),
          size: (u, values) => 16 + 8 * Math.max(4, ...(values ?? []).map((value) => value.length)),
        },
      ],
      hooks: { setCursor: [(u) => this.showTooltip(u)] },
    };
  }

  draw() {
    // A crosshair someone is reading stays on its bucket when new data redraws the chart.
    const cursor = this.plot?.cursor;
    const kept = cursor && cursor.idx !== null && cursor.idx !== undefined && cursor.left >= 0 ? this.plot.data[0][cursor.idx] : null;
    this.plot?.destroy();
    this.plot = null;
    this.box.replaceChildren();
    const gaps = this.points.filter((point) => point.close === null).length;
    if (this.points.length === 0) {
      this.caption.textContent = "No rates in this range.";
      return;
    }
    this.plot = new uPlot(this.options(), this.data(), this.box);
    this.plot.over.append(this.tooltip);
    const count = this.plot.data[0].length;
    const first = this.points[0].t;
    const last = this.points[count - 1].t;
    this.caption.replaceChildren(
      el("span", { class: "count", text: `${count} ${INTERVAL_WORDS[this.interval]} points` }),
      " from ",
      el("time", { class: "first", datetime: first, text: utc(first) }),
      " to ",
      el("time", { class: "last", datetime: last, text: utc(last) }),
      `, source ${this.source}`,
      gaps ? `; ${gaps} without a rate (drawn as gaps)` : "",
      ". High–low band, close line.",
    );
    this.caption.dataset.points = String(count);
    this.caption.dataset.gaps = String(gaps);
    const index = kept === null ? -1 : this.plot.data[0].indexOf(kept);
    if (index >= 0) this.moveTo(index);
  }

  moveTo(index) {
    const u = this.plot;
    const value = u.data[3][index] ?? (u.scales.y.min + u.scales.y.max) / 2;
    u.setCursor({ left: u.valToPos(u.data[0][index], "x"), top: u.valToPos(value, "y") });
  }

  showTooltip(u) {
    const index = u.cursor.idx;
    if (index === null || index === undefined || u.cursor.left < 0) {
      this.tooltip.hidden = true;
      return;
    }
    const point = this.points[index];
    const rows = [el("div", { class: "when", text: utc(point.t) })];
    if (point.close === null) rows.push(el("div", { text: "no rate in force" }));
    for (const field of ["open", "high", "low", "close", "average"]) {
      if (point[field] === null || point[field] === undefined) continue;
      rows.push(el("div", {}, el("span", { class: "field", text: field }), el("span", { class: "value", text: plain(point[field]) })));
    }
    this.tooltip.replaceChildren(...rows);
    this.tooltip.hidden = false;
    const width = this.tooltip.offsetWidth;
    const height = this.tooltip.offsetHeight;
    const left = u.cursor.left + 14 + width > u.over.clientWidth ? u.cursor.left - 14 - width : u.cursor.left + 14;
    const top = Math.min(Math.max(0, u.cursor.top - height / 2), u.over.clientHeight - height);
    this.tooltip.style.transform = `translate(${Math.max(0, left)}px, ${Math.max(0, top)}px)`;
  }

  // Arrow keys walk the crosshair bucket by bucket, Home and End jump to the ends.
  key(event) {
    const u = this.plot;
    if (!u) return;
    const last = u.data[0].length - 1;
    const current = u.cursor.idx ?? last;
    const moves = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: last };
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.moveTo(Math.min(last, Math.max(0, moves[event.key])));
  }
}

const chart = new Chart($("#chart"), $("#chart-caption"));

function pressed(group, attribute, value) {
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset[attribute] === value));
  }
}

function selectCurrency(code) {
  state.selected = code;
  pressed($("#chart-currencies"), "currency", code);
  $("#chart").setAttribute("aria-label", `${code} against the US dollar; arrow keys move the crosshair`);
  return chart.load(code, state.range);
}

function selectRange(range) {
  state.range = range;
  pressed($("#chart-ranges"), "range", range);
  return chart.load(state.selected, range);
}

// ---- The converter --------------------------------------------------------------------------------------

// Digits with at most one decimal point: anything else is not an amount, and is said without asking the API
// (whose 422 the browser would log as an error). Limits the page cannot judge are left to the API's answer.
const AMOUNT = /^(\d+\.?\d*|\.\d+)$/;

async function convert() {
  const form = $("#convert-form");
  const output = $("#convert-result");
  const amount = form.amount.value.trim();
  if (!AMOUNT.test(amount) || Number(amount) <= 0) {
    output.replaceChildren(el("span", { class: "error", text: "Enter a positive amount, such as 1000 or 12.5" }));
    return;
  }
  const query = new URLSearchParams({ from: form.from.value, to: form.to.value, amount });
  try {
    const { data } = await getJSON(`/convert?${query}`);
    const used = Object.entries(data.sources).map(
      ([code, used]) => `${code}: ${used.source} ${plain(used.rate)}${used.stale ? " (stale)" : ""}`,
    );
    output.replaceChildren(
      el(
        "p",
        { class: "answer" },
        `${plain(data.amount)} ${data.from} = `,
        el("strong", { class: "result", text: plain(data.result) }),
        ` ${data.to}`,
      ),
      el("p", { class: "note", text: `1 ${data.from} = ${plain(data.rate)} ${data.to}, rates in force at ${utc(data.at)}` }),
      el("p", { class: "note", text: used.length ? `Per USD: ${used.join("; ")}` : "" }),
    );
  } catch (error) {
    showError(output, error);
  }
}

function setUpConverter() {
  const form = $("#convert-form");
  const codes = ["USD", ...state.currencies.map((currency) => currency.code)];
  for (const select of [form.from, form.to]) {
    select.replaceChildren(...codes.map((code) => el("option", { value: code, text: code })));
  }
  form.from.value = "USD";
  form.to.value = codes.includes("KZT") ? "KZT" : codes[1] ?? "USD";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    convert();
  });
  const soon = debounce(convert, 300);
  form.amount.addEventListener("input", soon);
  form.from.addEventListener("change", convert);
  form.to.addEventListener("change", convert);
  $("#swap").addEventListener("click", () => {
    [form.from.value, form.to.value] = [form.to.value, form.from.value];
    convert();
  });
}

// ---- Live -----------------------------------------------------------------------------------------------

function showLive(live) {
  const marker = $("#live");
  marker.dataset.state = live ? "live" : "offline";
  const since = state.lastUpdate ? ` (last update ${utc(new Date(state.lastUpdate).toISOString())})` : "";
  marker.querySelector(".live-text").textContent = live ? "Live" : `Not live: reconnecting${since}`;
}

// Everything that depends on the rates, once they changed: at most once a second, however many events.
const refreshDependents = debounce(() => {
  loadChanges();
  loadSources();
  if (state.selected) chart.load(state.selected, state.range);
  convert();
}, 1000);

// ---- Start ----------------------------------------------------------------------------------------------

async function start() {
  try {
    state.currencies = (await getJSON("/currencies")).data.currencies;
  } catch (error) {
    showError($("#rates-note"), error);
  }
  $("#chart-currencies").replaceChildren(
    ...state.currencies.map((currency) =>
      el("button", { type: "button", "data-currency": currency.code, "aria-pressed": "false", title: currency.name, text: currency.code }),
    ),
  );
  $("#chart-currencies").addEventListener("click", (event) => {
    const code = event.target.closest("button")?.dataset.currency;
    if (code) selectCurrency(code);
  });
  $("#chart-ranges").addEventListener("click", (event) => {
    const range = event.target.closest("button")?.dataset.range;
    if (range) selectRange(range);
  });
  setUpConverter();
  await loadLatest();
  const first = state.latest?.rates[0]?.currency ?? state.currencies[0]?.code;
  await Promise.all([loadChanges(), loadSources(), first ? selectCurrency(first) : null, convert()]);
  new LiveRates("/rates/stream", {
    onRates: (text) => {
      if (applyLatest(text)) refreshDependents();
    },
    onState: showLive,
    onStale: async () => {
      if (await loadLatest()) refreshDependents();
    },
  });
  // Ages ("3 min ago") move on by themselves.
  setInterval(() => {
    renderLatest();
    renderSources(Date.now());
  }, 30_000);
}

start();
