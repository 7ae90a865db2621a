/* <order-status>: an order's status for a storefront, from the status translation gateway.
   Vanilla custom element, no build step: 13.4 kB unminified without its texts, 5.2 kB gzipped.
     <script src="https://gateway.example/widget.js" defer></script>
     <order-status platform="cscart" code="P" lang="fr"></order-status>
   Attributes: platform, code (+ payment, fulfillment, variant); token: an order's timeline,
   fetched again every `refresh` seconds (default 30; 0: never); lang (ru, en, fr, el; else the
   closest [lang], the browser's, en); api (default: where this script came from).
   Slot "action": your own button in the call to action.
   Theme (default light, dark):
     --order-status-font        system-ui
     --order-status-color       #1f2328 #e6edf3  text
     --order-status-background  #fff    #161b22
     --order-status-accent      #0b62d6 #58a6ff  current step
     --order-status-muted       #5c6570 #9198a1  secondary text, steps to come
     --order-status-done        #1a7f37 #3fb950  steps done, final status
     --order-status-problem     #c5221f #ff7b72  problems, calls to action
     --order-status-radius      12px
     --order-status-border      1px solid (muted at 35%)
     --order-status-space       16px             padding
   Parts: card header icon label detail badge description progress step step-done step-current
   step-todo action timeline event time updated message.
   Events: order-status:load {detail: answer}, order-status:error {detail: {status, message}}.
*/
(() => {
"use strict";
const STRINGS = /*STRINGS*/{}/*END STRINGS*/;
const TAG = "order-status";
if (!window.customElements || customElements.get(TAG)) return;
const LANGS = ["ru", "en", "fr", "el"];
const STAGES = ["approval", "fulfillment", "delivery", "returns"];
const PROBLEMS = ["payment_failed", "delivery_failed", "lost", "on_hold", "canceled", "draft",
  "awaiting_stock"];
const ICONS = { final: "✓", problem: "!", stopped: "✕", error: "!" };
const me = document.currentScript;
const ORIGIN = new URL(me && me.src || location.href, location.href).origin;
const CSS = `
.card{--c:var(--order-status-color,#1f2328);--bg:var(--order-status-background,#fff);
--ac:var(--order-status-accent,#0b62d6);--mu:var(--order-status-muted,#5c6570);
--ok:var(--order-status-done,#1a7f37);--pr:var(--order-status-problem,#c5221f);
--sp:var(--order-status-space,16px);--r:var(--order-status-radius,12px);
--ln:color-mix(in srgb,var(--mu) 35%,transparent);--k:var(--ac);padding:var(--sp);
color:var(--c);background:var(--bg);border-radius:var(--r);
border:var(--order-status-border,1px solid var(--ln));
font:1em/1.45 var(--order-status-font,system-ui,sans-serif);text-align:start;
text-transform:none;letter-spacing:normal}
@media (prefers-color-scheme:dark){.card{--c:var(--order-status-color,#e6edf3);
--bg:var(--order-status-background,#161b22);--ac:var(--order-status-accent,#58a6ff);
--mu:var(--order-status-muted,#9198a1);--ok:var(--order-status-done,#3fb950);
--pr:var(--order-status-problem,#ff7b72)}}
:host{display:block}:host([hidden]),[data-state=empty]{display:none}
[data-state=final]{--k:var(--ok)}[data-state=problem],[data-state=stopped],[data-state=error]{
--k:var(--pr)}p,ol{margin:0;padding:0;list-style:none}
.header{display:flex;align-items:center;gap:calc(var(--sp)*.75)}.header>div{flex:1}
.icon,.dot{flex:none;display:grid;place-items:center;border-radius:50%;font-weight:700}
.icon{width:2.25em;height:2.25em;color:var(--k);
background:color-mix(in srgb,var(--k) 14%,transparent)}
.icon:empty::after,.current .dot:empty::after{content:"";width:.7em;height:.7em;
border-radius:50%;background:var(--k)}
.label{font-weight:650;font-size:1.125em;line-height:1.3}
.detail,.message,.updated,.timeline span,time{color:var(--mu);font-size:.875em}
.badge{display:inline-block;margin-top:.35em;padding:0 .6em;border:1px solid;border-radius:1em;
font-size:.75em;font-weight:600;color:var(--k)}
.description{margin-top:calc(var(--sp)*.6)}
.progress{display:flex;margin-top:var(--sp);font-size:.75em;line-height:1.3}
.progress li{position:relative;flex:1;display:flex;flex-direction:column;gap:.4em;min-width:0;
align-items:center;text-align:center;color:var(--mu)}
.progress span{max-width:100%;overflow-wrap:break-word;hyphens:auto}
li+li::before{content:"";position:absolute;top:calc(.875em - 1px);height:2px;
left:calc(1.25em - 50%);right:calc(50% + 1.25em);background:var(--ln)}
.done::before,.current::before{background:var(--ok)}
.dot{width:1.75em;height:1.75em;border:2px solid var(--ln);background:var(--bg)}
.done,.current{color:var(--c)}.current{font-weight:600}
.done .dot,[data-state=final] .current .dot{border-color:var(--ok);background:var(--ok);
color:var(--bg)}
.current .dot{border-color:var(--k);color:var(--k);
box-shadow:0 0 0 4px color-mix(in srgb,var(--k) 18%,transparent)}
.action{margin-top:var(--sp);padding:calc(var(--sp)*.75);border-inline-start:4px solid var(--k);
border-radius:calc(var(--r)/2);background:color-mix(in srgb,var(--k) 8%,var(--bg))}
.action p:first-child{font-size:.75em;font-weight:700;color:var(--k)}
.action p+p{font-weight:600}.action p+p+p{font-weight:400;font-size:.875em}
.history{margin:var(--sp) 0 .5em;font-weight:600;font-size:.875em}
.timeline li{position:relative;padding:0 0 .75em 1.5em;font-size:.875em}
.timeline li::before,.timeline li::after{content:"";position:absolute;left:.2em;top:.4em;
width:.6em;height:.6em;border-radius:50%;background:var(--mu)}
.timeline li::after{left:.45em;top:1.15em;bottom:-.35em;width:2px;height:auto;background:var(--ln)}
.timeline li:last-child::after{content:none}
.timeline li:first-child::before{background:var(--k)}.timeline li:first-child p{font-weight:600}
time,.timeline span{display:block}.updated{font-size:.75em}.updated time{display:inline;
font-size:1em}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);
white-space:nowrap}
@media (prefers-reduced-motion:no-preference){.card>*{animation:in .3s}}
@keyframes in{from{opacity:0}}
@media (forced-colors:active){.icon,.dot,.action{border:2px solid}
.current .dot{outline:3px solid Highlight;outline-offset:2px}}`;

const cache = new Map(); // url → promise of its JSON, shared by every element on the page
const get = (url, live) => {
  let p = cache.get(url);
  if (!p) {
    cache.set(url, p = fetch(url, { cache: live ? "no-cache" : "default" }).then((r) => {
      if (r.ok) return r.json();
      throw Object.assign(Error(`HTTP ${r.status}`), { status: r.status });
    }));
    const drop = () => cache.get(url) === p && cache.delete(url);
    p.then(live && drop, drop); // live answers are shared while in flight only
  }
  return p;
};
// DOM from text nodes only, never markup; attrs "name" means class and part "name"
const h = (tag, attrs, ...kids) => {
  const el = document.createElement(tag);
  if (typeof attrs == "string") attrs = { class: attrs, part: attrs };
  for (const k in attrs) if (attrs[k] != null) el.setAttribute(k, attrs[k]);
  el.append(...kids.filter((k) => k || k === 0));
  return el;
};
const dates = {};
const time = (lang, iso) => {
  const d = new Date(iso);
  dates[lang] ||= new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  return h("time", { datetime: iso, part: "time" }, isNaN(d) ? iso : dates[lang].format(d));
};
const texts = (lang) => ({ ...STRINGS.en, ...STRINGS[lang] });
const find = (list, code) => (list || []).find((x) => x.code === code);
let sheet = null;
try {
  (sheet = new CSSStyleSheet()).replaceSync(CSS);
} catch (e) {
  sheet = null;
}

class OrderStatus extends HTMLElement {
  static observedAttributes = ["lang", "platform", "code", "payment", "fulfillment", "variant",
    "token", "api", "refresh"];

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    if (sheet && root.adoptedStyleSheets) root.adoptedStyleSheets = [sheet];
    else root.append(h("style", {}, CSS));
    root.append(this._card = h("div", { class: "card", part: "card", role: "status",
      "aria-live": "polite" }));
    this._gen = 0;
    this._key = "";
  }

  connectedCallback() {
    this.attributeChangedCallback();
  }

  disconnectedCallback() {
    clearTimeout(this._timer);
    this._gen++; // answers still in flight are dropped
  }

  attributeChangedCallback() { // attributes set in a row give one fetch
    if (this._queued || !this.isConnected) return;
    this._queued = true;
    queueMicrotask(() => {
      this._queued = false;
      if (this.isConnected) this._load();
    });
  }

  async _load(poll) {
    clearTimeout(this._timer);
    const gen = ++this._gen;
    const a = (name) => this.getAttribute(name);
    const lang = [a("lang"), this.parentElement?.closest("[lang]")?.lang,
      document.documentElement.lang, ...navigator.languages || []]
      .map((t) => String(t || "").toLowerCase().split(/[-_]/)[0])
      .find((l) => LANGS.includes(l)) || "en";
    const api = (a("api") || ORIGIN).replace(/\/+$/, "");
    const token = a("token");
    const q = new URLSearchParams({ lang });
    for (const n of ["payment", "fulfillment", "variant"]) if (a(n)) q.set(n, a(n));
    const url = token ? `${api}/v1/public/orders/${encodeURIComponent(token)}?lang=${lang}`
      : a("platform") && a("code") && `${api}/v1/translate/${
        encodeURIComponent(a("platform"))}/${encodeURIComponent(a("code"))}?${q}`;
    if (!url) {
      this._key = "";
      return this._fill(lang, "empty");
    }
    this._card.setAttribute("aria-busy", "true");
    if (!this._key) this._show(lang, "loading");
    let status = 0;
    try {
      const [answer, words] = await Promise.all([get(url, token),
        get(`${api}/v1/statuses?lang=${lang}`)]);
      if (gen !== this._gen) return;
      const key = url + JSON.stringify(answer);
      if (key !== this._key) { // re-render only when the answer changed
        this._render(lang, answer, words, token);
        this._key = key;
        this._emit("load", answer);
      }
    } catch (e) {
      if (gen !== this._gen) return;
      status = e.status || 0;
      if (!poll || status === 404 || !this._key) { // a passing failure keeps what is shown
        this._key = "";
        this._show(lang, token && status === 404 ? "not_found" : "unavailable", "error");
      }
      this._emit("error", { status, message: String(e.message) });
    }
    this._card.setAttribute("aria-busy", "false");
    const every = Number(a("refresh") ?? 30);
    if (token && status !== 404 && every > 0) {
      this._timer = setTimeout(() => this._load(true), Math.max(1, every) * 1000);
    }
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(`${TAG}:${type}`, { detail, bubbles: true,
      composed: true }));
  }

  _fill(lang, state, ...kids) {
    this._card.lang = lang;
    this._card.dataset.state = state;
    this._card.replaceChildren(...kids.filter(Boolean));
  }

  _head(state, ...kids) {
    return h("div", "header", h("span", { class: "icon", part: "icon", "aria-hidden": "true" },
      ICONS[state]), h("div", {}, ...kids));
  }

  _show(lang, key, state = "loading") {
    this._fill(lang, state, this._head(state, h("p", "message", texts(lang)[key])));
  }

  _render(lang, answer, words, token) {
    const T = texts(lang);
    const st = token ? answer.current : answer.canonical;
    const problem = PROBLEMS.includes(st.code) || st.action_required != null;
    const kind = problem ? (st.terminal ? "stopped" : "problem")
      : st.terminal ? "final" : "active";
    const at = STAGES.indexOf(st.stage);
    const act = find(words.actions, st.action_required);
    this._fill(lang, kind,
      this._head(kind, h("p", "label", st.label), st.detail_label && h("p", "detail",
        st.detail_label), kind !== "active" && h("p", "badge", T[kind === "problem" ? "problem"
        : "final"])),
      st.description && h("p", "description", st.description),
      at >= 0 && h("ol", { class: "progress", part: "progress", "aria-label": T.progress },
        ...STAGES.slice(0, Math.max(3, at + 1)).map((code, i) => {
          const state = i < at ? "done" : i === at ? "current" : "todo";
          const stage = find(words.stages, code);
          return h("li", { class: state, part: `step step-${state}`,
            "aria-current": i === at ? "step" : null },
          h("span", { class: "dot", "aria-hidden": "true" },
            i < at ? "✓" : i === at && ICONS[kind]),
          h("span", {}, stage ? stage.label : code),
          i <= at && h("span", { class: "vh" }, `, ${i < at ? T.done_step : T.current_step}`));
        })),
      st.action_required && h("div", "action", h("p", {}, T.action_required),
        h("p", {}, act ? act.label : st.action_required), act && h("p", {}, act.description),
        h("slot", { name: "action" })),
      token && h("p", { class: "history", id: "tl" }, T.timeline),
      token && h("ol", { class: "timeline", part: "timeline", "aria-labelledby": "tl" },
        ...(answer.timeline || []).slice().reverse().map((e) => h("li", { part: "event" },
          h("p", {}, e.status.label), h("span", {}, e.status.detail_label),
          time(lang, e.occurred_at)))), // newest first
      token && h("p", "updated", ...String(T.updated || "{time}").split(/(\{time\})/)
        .map((x) => x === "{time}" ? time(lang, answer.updated_at) : x)));
  }
}

customElements.define(TAG, OrderStatus);
})();
