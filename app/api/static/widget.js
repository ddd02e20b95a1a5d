// The embeddable ticker: /widget/ticker?currencies=KGS,KZT&decimals=5&theme=dark, live over /rates/stream.
import { LiveRates, Marquee, el, getJSON, parseExact, tickerEntry } from "./fx.js";

const params = new URLSearchParams(location.search);
const order = (params.get("currencies") ?? "")
  .split(",")
  .map((code) => code.trim().toUpperCase())
  .filter(Boolean);
const decimalsText = params.get("decimals");
const theme = params.get("theme") === "dark" ? "dark" : "light";
document.documentElement.dataset.theme = theme;

const query = order.length ? `?currencies=${order.map(encodeURIComponent).join(",")}` : "";
const marquee = new Marquee(document.querySelector("#ticker"), { label: "Exchange rates", speed: 50 });
const live = document.querySelector("#live");
let shown = null;

function decimals() {
  if (decimalsText === null || decimalsText === "") return null;
  if (!/^\d{1,2}$/.test(decimalsText) || Number(decimalsText) > 15) return undefined;
  return Number(decimalsText);
}

// The configured currencies in the configured order (the API answers in its own order).
function show(text) {
  if (text === shown) return;
  shown = text;
  const latest = parseExact(text);
  const byCode = new Map(latest.rates.map((rate) => [rate.currency, rate]));
  const wanted = order.length ? order : latest.rates.map((rate) => rate.currency);
  const entries = wanted.filter((code) => byCode.has(code)).map((code) => tickerEntry(byCode.get(code), { decimals: decimals(), details: false }));
  for (const note of latest.attribution ?? []) entries.push(el("li", { class: "attribution", text: note }));
  if (entries.length === 0) marquee.say("No rates yet", "placeholder");
  else marquee.show(entries);
}

function showLive(isLive) {
  live.dataset.state = isLive ? "live" : "offline";
  const words = isLive ? "Live" : "Not live: reconnecting";
  live.title = words;
  live.firstElementChild.textContent = words;
}

// True unless the configuration itself is wrong (an unknown currency: the API's 4xx says which).
async function load() {
  try {
    show((await getJSON(`/rates/latest${query}`)).text);
  } catch (error) {
    marquee.say(error.message);
    return !(error.status >= 400 && error.status < 500);
  }
  return true;
}

if (decimals() === undefined) {
  marquee.say(`decimals must be a whole number from 0 to 15, not '${decimalsText}'`);
} else {
  load().then((configured) => {
    if (configured) new LiveRates(`/rates/stream${query}`, { onRates: show, onState: showLive, onStale: load });
  });
}
