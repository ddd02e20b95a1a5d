// What the dashboard and the ticker widget share: exact numbers, the ticker's entries, the live rate stream.

// ---- Exact numbers -------------------------------------------------------------------------------------
// The API writes every rate with the digits its source published (0.0020165355918532, 495.90). JSON.parse
// would turn them into doubles, which print differently (495.9) or lose digits. So every JSON number is kept
// as its source text, a string; the code calls Number() only where it computes (chart coordinates, signs).
// Browsers since Chrome 114, Firefox 135 and Safari 18.4 pass that text to a reviver (context.source);
// elsewhere a one-pass tokenizer quotes the numbers before parsing, which gives the very same strings.

const REVIVER_HAS_SOURCE = (() => {
  let seen = false;
  JSON.parse("1.0", (key, value, context) => {
    seen = context?.source === "1.0";
    return value;
  });
  return seen;
})();

// A JSON string (skipped whole, so digits inside it are left alone) or a JSON number (quoted).
const TOKEN = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

export function quoteNumbers(text) {
  return text.replace(TOKEN, (token) => (token[0] === '"' ? token : `"${token}"`));
}

export function parseExact(text, { tokenizer = !REVIVER_HAS_SOURCE } = {}) {
  if (tokenizer) return JSON.parse(quoteNumbers(text));
  return JSON.parse(text, (key, value, context) => (typeof value === "number" ? context.source : value));
}

// "1.25E+4" -> "12500", "8e-05" -> "0.00008"; "495.90" stays "495.90" (its published digits).
export function plain(number) {
  const text = String(number);
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = "", exponent = "0"] = match;
  let digits = whole + fraction;
  let point = whole.length + Number(exponent);
  if (point <= 0) {
    digits = "0".repeat(1 - point) + digits;
    point = 1;
  }
  if (point > digits.length) digits += "0".repeat(point - digits.length);
  const integer = digits.slice(0, point).replace(/^0+(?=\d)/, "");
  const rest = digits.slice(point);
  return sign + integer + (rest ? `.${rest}` : "");
}

// Rounded half to even at `decimals` places and padded to them, as the server rounds (0.0114416 -> 0.01144).
export function roundTo(number, decimals) {
  const text = plain(number);
  const negative = text.startsWith("-");
  const [whole, fraction = ""] = text.replace("-", "").split(".");
  let scaled = BigInt(whole + fraction.slice(0, decimals).padEnd(decimals, "0"));
  const dropped = fraction.slice(decimals);
  if (dropped) {
    const first = dropped[0];
    const beyond = /[1-9]/.test(dropped.slice(1));
    if (first > "5" || (first === "5" && (beyond || scaled % 2n === 1n))) scaled += 1n;
  }
  const digits = scaled.toString().padStart(decimals + 1, "0");
  const integer = digits.slice(0, digits.length - decimals);
  const rounded = decimals ? `${integer}.${digits.slice(-decimals)}` : integer;
  return negative && scaled !== 0n ? `-${rounded}` : rounded;
}

export function sign(number) {
  const value = Number(number);
  return value > 0 ? 1 : value < 0 ? -1 : 0;
}

// A change in percent for people: two decimals at most, "0%" for none, "<0.01%" rather than a false zero.
export function percent(number) {
  const value = plain(number);
  if (sign(value) === 0) return "0%";
  const rounded = roundTo(value.replace("-", ""), 2).replace(/\.?0+$/, "");
  return `${rounded === "0" ? "<0.01" : rounded}%`;
}

export const MARKS = { 1: "▲", "-1": "▼", 0: "" };

// ---- Times ---------------------------------------------------------------------------------------------

export function utc(iso, { seconds = false } = {}) {
  if (!iso) return "—";
  const date = new Date(iso);
  return `${date.toISOString().slice(0, seconds ? 19 : 16).replace("T", " ")} UTC`;
}

export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

// ---- The API -------------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// Answers carry max-age up to the next expected poll, but a live page knows sooner that data changed: so it
// always revalidates (a 304 when nothing changed, thanks to the ETag).
export async function getJSON(url, options = {}) {
  const response = await fetch(url, { cache: "no-cache", ...options, headers: { Accept: "application/json" } });
  const text = await response.text();
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = JSON.parse(text).detail ?? detail;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(typeof detail === "string" ? detail : JSON.stringify(detail), response.status);
  }
  return { data: parseExact(text), text };
}

// ---- Elements ------------------------------------------------------------------------------------------

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// ---- The ticker ----------------------------------------------------------------------------------------
// One entry per currency, as news sites print it (`KGS/USD = 0.01144 0%`), but with the change's direction,
// the source and the age, and a stale rate marked as such. The ticker writes its own direction, USD per unit:
// an answer's `inverse` (its `rate` is units per USD, `pair` USD/KGS), so the pair is turned round and the
// change is that of the inverse. The change is the one since the previous different value; a rate with no
// earlier value shows the change the source printed (`source_change_pct`, in its own direction), and says so.

// The move of the inverse when the rate moved by `pct` percent: 1 / (1 + p) - 1, six decimals (for display).
export function inversePercent(pct) {
  const p = Number(pct) / 100;
  return plain(String(Math.round((1 / (1 + p) - 1) * 1e8) / 1e6));
}

export function tickerChange(rate) {
  if (rate.change_pct !== null && rate.change_pct !== undefined) {
    const base = rate.pair.split("/")[0];
    const previous = rate.previous_rate === null ? "" : ` (was ${plain(rate.previous_rate)} ${rate.currency} per ${base})`;
    return { value: inversePercent(rate.change_pct), note: `change since the previous value${previous}` };
  }
  if (rate.source_change_pct !== null && rate.source_change_pct !== undefined) {
    return { value: rate.source_change_pct, note: `change as printed by ${rate.source}` };
  }
  return null;
}

// `USD/KGS` (the answer's market notation) written the ticker's way round: `KGS/USD`.
export function tickerPair(rate) {
  const [base, currency] = rate.pair.split("/");
  return currency ? `${currency}/${base}` : rate.pair;
}

export function tickerEntry(rate, { decimals = null, details = true, now = Date.now() } = {}) {
  const shown = decimals === null ? plain(rate.inverse) : roundTo(rate.inverse, decimals);
  const change = tickerChange(rate);
  const direction = change ? sign(change.value) : 0;
  const kind = change === null ? "none" : ["down", "flat", "up"][direction + 1];
  const item = el("li", {
    class: `entry ${kind}${rate.stale ? " stale" : ""}`,
    "data-currency": rate.currency,
    title: [
      `${tickerPair(rate)} = ${plain(rate.inverse)} (${plain(rate.rate)} ${rate.currency} per ${rate.pair.split("/")[0]})`,
      change ? `${MARKS[direction]} ${plain(change.value)}%: ${change.note}` : "no change known",
      `source: ${rate.source}, since ${utc(rate.since)}, last seen ${utc(rate.last_seen)}`,
      rate.stale ? "STALE: not confirmed by its source recently" : null,
    ]
      .filter(Boolean)
      .join("\n"),
  });
  item.append(
    el("span", { class: "bullet", "aria-hidden": "true", text: "•" }),
    el("span", { class: "pair", text: tickerPair(rate) }),
    el("span", { class: "equals", "aria-hidden": "true", text: "=" }),
    el("span", { class: "rate", text: shown }),
    el(
      "span",
      { class: "change" },
      el("span", { class: "mark", "aria-hidden": "true", text: change ? MARKS[direction] : "" }),
      el("span", {
        class: "value",
        text: change ? `${direction < 0 ? "−" : ""}${percent(change.value)}` : "—",
      }),
      el("span", {
        class: "sr-only",
        text: change ? ` ${["down", "unchanged", "up"][direction + 1]}` : " change unknown",
      }),
    ),
  );
  if (rate.stale) item.append(el("span", { class: "stale-badge", text: "stale" }));
  if (details) {
    item.append(
      el("span", { class: "source", text: rate.source }),
      el("time", { class: "age", datetime: rate.last_seen, text: ago(rate.last_seen, now) }),
    );
  }
  return item;
}

// The marquee: the list of entries, then as many copies as it takes to fill the strip twice over, hidden
// from assistive technology, scrolled by exactly one copy's width so the loop has no seam.
export class Marquee {
  constructor(strip, { label, speed = 60 } = {}) {
    this.strip = strip;
    this.speed = speed; // pixels per second, whatever the number of entries
    this.track = el("div", { class: "marquee-track" });
    this.list = el("ul", { class: "marquee-list", "aria-label": label });
    this.track.append(this.list); // in place of what the strip says ("Loading…") once there are entries
    new ResizeObserver(() => this.fill()).observe(strip);
  }

  show(entries) {
    if (!this.track.isConnected) this.strip.replaceChildren(this.track);
    this.list.replaceChildren(...entries);
    this.fill();
  }

  // A message in place of the entries, standing still.
  say(text, className = "problem") {
    this.strip.replaceChildren(el("p", { class: className, role: className === "problem" ? "alert" : null, text }));
  }

  fill() {
    for (const copy of [...this.track.children].slice(1)) copy.remove();
    const width = this.list.getBoundingClientRect().width;
    if (width === 0) return;
    const copies = Math.max(1, Math.ceil(this.strip.clientWidth / width));
    for (let i = 0; i < copies; i += 1) {
      const copy = this.list.cloneNode(true);
      copy.setAttribute("aria-hidden", "true");
      copy.removeAttribute("aria-label");
      this.track.append(copy);
    }
    this.track.style.setProperty("--shift", `${-width}px`);
    this.track.style.animationDuration = `${Math.max(5, width / this.speed)}s`;
  }
}

// ---- Live ----------------------------------------------------------------------------------------------
// GET /rates/stream sends one `rates` event on connecting, with exactly the /rates/latest body, then one
// whenever that body changes. EventSource reconnects by itself after a dropped connection; after an HTTP
// error it gives up (readyState CLOSED), so then a new one is opened, waiting longer each time (at most 30 s).
// `onState(live)` reports whether updates are arriving; while they are not, `onStale` is called every
// `pollSeconds` so the page can refresh itself with plain requests.

export class LiveRates {
  constructor(url, { onRates, onState, onStale, pollSeconds = 60 }) {
    Object.assign(this, { url, onRates, onState, onStale, pollSeconds });
    this.delay = 1;
    this.live = null;
    this.connect();
  }

  connect() {
    this.source = new EventSource(this.url);
    this.source.addEventListener("open", () => {
      // Connected is live: a reconnection whose Last-Event-ID is current gets no event until the next change.
      this.delay = 1;
      this.state(true);
    });
    this.source.addEventListener("rates", (event) => {
      this.state(true);
      this.onRates(event.data, event.lastEventId);
    });
    this.source.addEventListener("error", () => {
      this.state(false);
      if (this.source.readyState === EventSource.CLOSED) {
        setTimeout(() => this.connect(), this.delay * 1000);
        this.delay = Math.min(30, this.delay * 2);
      }
    });
  }

  state(live) {
    if (live === this.live) return;
    this.live = live;
    this.onState(live);
    clearInterval(this.poller);
    if (!live && this.onStale) this.poller = setInterval(this.onStale, this.pollSeconds * 1000);
  }
}
