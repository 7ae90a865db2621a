// The operator console: a static app over the gateway's public HTTP API (no build step).
//
// Safety rules kept throughout: the DOM is built only with createElement/textContent (the `h`
// helper), never from HTML strings; the API key lives in this tab's sessionStorage only and
// goes out in the Authorization header, never in a URL or a log line; forms are handled here
// (the page's CSP has form-action 'none').

const LANGS = ["ru", "en", "fr", "el"];
// Each language's name in itself (the same in every UI language).
const AUTONYMS = { ru: "Русский", en: "English", fr: "Français", el: "Ελληνικά" };
const KEY_STORE = "gateway.console.key";
const LANG_STORE = "gateway.console.lang";
const PAGE_ORDER = ["endpoints", "deliveries", "unmapped", "connectors", "orders", "fbo"];
const CONNECTORS = ["measoft", "cscart", "cloudcart"];
const EVENT_TYPES = [
  "order.status_changed",
  "fbo.deadline_at_risk",
  "fbo.deadline_missed",
  "endpoint.disabled",
  "endpoint.failing",
  "endpoint.recovered",
  "connector.paused",
  "connector.item_rejected",
];
const SCHEMES = ["v1", "v1a"];
const RESULTS = ["delivered", "retrying", "failed", "gone"];
const RESULT_TONE = { delivered: "ok", retrying: "warn", failed: "bad", gone: "bad" };
const STEP_TONE = { done: "ok", pending: "muted", at_risk: "warn", missed: "bad" };
const PAGE_SIZE = 50;
const SECONDS = { seconds: true };

const state = {
  key: null,
  lang: "en",
  texts: {},
  textCache: new Map(),
  platforms: null,
  vocab: new Map(),
  main: null,
};

// ---------------------------------------------------------------- small helpers

const store = {
  get(name) {
    try {
      return sessionStorage.getItem(name);
    } catch {
      return null;
    }
  },
  set(name, value) {
    try {
      sessionStorage.setItem(name, value);
    } catch {
      // storage refused (private mode quota): the key then lives in memory for this page only
    }
  },
  del(name) {
    try {
      sessionStorage.removeItem(name);
    } catch {
      // nothing stored
    }
  },
};

const PROPS = new Set(["value", "checked", "selected", "disabled", "hidden", "readOnly", "required"]);

/** An element: attributes (`on…` functions become listeners), then children (text or nodes). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  const later = [];
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (PROPS.has(name)) {
      later.push([name, value]);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  for (const [name, value] of later) el[name] = value; // a select's value once its options exist
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace an element's children (null and false are skipped, as in `h`). */
function put(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
const uid = (stem) => `${stem}-${++counter}`;
const enc = encodeURIComponent;

/** A UI text in the current language, `{name}` placeholders filled. */
function t(key, params) {
  let text = Object.hasOwn(state.texts, key) ? state.texts[key] : key;
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  }
  return text;
}

const formatters = new Map();
function dateFormat(options) {
  const id = state.lang + JSON.stringify(options);
  let format = formatters.get(id);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat(state.lang, options);
    } catch {
      const { timeZone, ...rest } = options; // an unknown zone: the browser's own
      format = new Intl.DateTimeFormat(state.lang, rest);
    }
    formatters.set(id, format);
  }
  return format;
}

function fmtDate(iso, { seconds = false, zone } = {}) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const options = { dateStyle: "medium", timeStyle: seconds ? "medium" : "short" };
  if (zone) options.timeZone = zone;
  return dateFormat(options).format(date);
}

/** A <time> for an ISO instant, localized; "—" when there is none. */
function when(iso, options) {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: iso }, fmtDate(iso, options));
}

/** A calendar day (YYYY-MM-DD), localized. */
function day(isoDay) {
  if (!isoDay) return h("span", { class: "muted" }, "—");
  const date = new Date(`${isoDay}T12:00:00Z`);
  if (Number.isNaN(date.getTime())) return String(isoDay);
  const text = dateFormat({ dateStyle: "full", timeZone: "UTC" }).format(date);
  return h("time", { datetime: isoDay }, text);
}

const num = (n) => new Intl.NumberFormat(state.lang).format(n);

// Units are CLDR's (Intl), not catalog texts: "12 ms", "12 мс", "12 ms", "12 χλστ.δ.".
const unit = (n, name, digits = 0) =>
  new Intl.NumberFormat(state.lang, {
    style: "unit",
    unit: name,
    unitDisplay: "short",
    maximumFractionDigits: digits,
  }).format(n);

function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  return unit(ms, "millisecond", ms < 10 ? 1 : 0);
}

function seconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 120) return unit(Math.round(s), "second");
  if (s < 7200) return unit(Math.round(s / 60), "minute");
  return unit(Math.round(s / 360) / 10, "hour", 1);
}

function trunc(text, max) {
  const s = String(text ?? "");
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A `datetime-local` value as an ISO instant (the browser's zone), or null when empty. */
function isoFromLocal(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Call the public API with the tenant key; answers JSON, throws ApiError with the problem. */
async function api(path, { method = "GET", query, body, key = state.key, signOutOn401 = true } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = {
    Accept: "application/json, application/problem+json",
    "Accept-Language": state.lang,
  };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new ApiError(0, { title: t("error_network"), detail: String(err?.message || err) });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  let data = null;
  let text = "";
  if (type.includes("json")) {
    data = await response.json().catch(() => null);
  } else {
    text = await response.text().catch(() => "");
  }
  if (response.ok) return data;
  const problem =
    data && typeof data === "object" && !Array.isArray(data)
      ? data
      : { title: response.statusText || `HTTP ${response.status}`, detail: trunc(text, 300) };
  problem.status ??= response.status;
  const error = new ApiError(response.status, problem);
  if (response.status === 401 && signOutOn401) signOut(t("signin_expired"));
  throw error;
}

async function platforms() {
  if (!state.platforms) state.platforms = (await api("v1/platforms")).platforms;
  return state.platforms;
}

async function vocab() {
  const lang = state.lang;
  if (!state.vocab.has(lang)) state.vocab.set(lang, await api("v1/statuses", { query: { lang } }));
  return state.vocab.get(lang);
}

function labelOf(list, code) {
  const entry = (list || []).find((e) => e.code === code);
  return entry ? entry.label : code;
}

function platformName(code) {
  if (!code) return "—";
  const [base, part] = String(code).split(".");
  const known = (state.platforms || []).find((p) => p.platform === base);
  const name = known ? known.name : base;
  return part ? t("platform_part", { platform: name, part }) : name;
}

// ---------------------------------------------------------------- messages and errors

function msgBox(id) {
  return h("div", { id, class: "msg", "aria-live": "polite" });
}

function say(box, text, tone = "ok") {
  if (!box) return;
  put(box, h("p", { class: `note note-${tone}`, "data-testid": "note" }, text));
}

function fieldLabel(el) {
  if (!el) return null;
  if (el.tagName === "FIELDSET") return el.querySelector("legend")?.textContent || null;
  const label = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
  if (!label) return null;
  const group = el.closest("fieldset")?.querySelector("legend")?.textContent;
  return group ? t("field_in_group", { group, field: label.textContent }) : label.textContent;
}

/** The form control a problem's pointer or parameter names, trying shorter paths in turn. */
function fieldFor(where, fields) {
  if (!where || !fields) return null;
  let path = String(where).replace(/^#\/?/, "");
  while (path) {
    if (fields[path]) return fields[path];
    path = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  }
  return null;
}

function problemView(err, fields) {
  if (!(err instanceof ApiError)) {
    // a bug of the console itself: show it, and let it reach the browser's error reporting too
    setTimeout(() => {
      throw err;
    });
  }
  const p = err instanceof ApiError ? err.problem : { title: t("error_unexpected"), detail: String(err) };
  const wrap = h("div", { class: "problem", "data-testid": "problem" });
  wrap.append(h("p", { class: "problem-title" }, p.title || t("error_unexpected")));
  if (p.detail) wrap.append(h("p", { class: "problem-detail" }, p.detail));
  const listed = Array.isArray(p.errors) && p.errors.length > 1 ? p.errors : [];
  const only = p.errors?.length === 1 ? p.errors[0] : null;
  const where = p.pointer || p.parameter || only?.pointer || only?.parameter || null;
  const items = [];
  for (const e of listed) {
    const place = e.pointer || e.parameter || e.header;
    const field = fieldLabel(fieldFor(place, fields)) || String(place || "").replace(/^#\/?/, "");
    items.push(h("li", null, t("problem_field_detail", { field, detail: e.detail })));
  }
  if (!listed.length && where && where !== "#") {
    const field = fieldLabel(fieldFor(where, fields)) || String(where).replace(/^#\/?/, "");
    items.push(h("li", null, t("problem_field", { field })));
  }
  if (Array.isArray(p.valid) && p.valid.length) {
    const shown = p.valid.slice(0, 40).join(", ") + (p.valid.length > 40 ? ", …" : "");
    items.push(h("li", null, t("problem_valid", { values: shown })));
  }
  if (items.length) wrap.append(h("ul", { class: "problem-list" }, items));
  if (err instanceof ApiError && err.status) {
    wrap.append(h("p", { class: "problem-status" }, t("problem_status", { status: err.status })));
  }
  return wrap;
}

function clearInvalid(fields) {
  for (const el of Object.values(fields || {})) {
    el.removeAttribute("aria-invalid");
    el.classList.remove("invalid");
  }
}

function markInvalid(err, fields) {
  if (!(err instanceof ApiError) || !fields) return;
  const p = err.problem;
  const places = [p.pointer, p.parameter, ...(p.errors || []).map((e) => e.pointer || e.parameter)];
  for (const place of places) {
    const el = fieldFor(place, fields);
    if (!el) continue;
    el.classList.add("invalid");
    if (el.tagName !== "FIELDSET") el.setAttribute("aria-invalid", "true");
  }
}

function showError(box, err, fields) {
  markInvalid(err, fields);
  const view = problemView(err, fields);
  if (box) put(box, view);
}

/** Run an action from a button: busy while it runs, its problem shown in `box`. */
async function run(button, box, action, fields) {
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  if (box) box.replaceChildren();
  clearInvalid(fields);
  try {
    return await action();
  } catch (err) {
    showError(box, err, fields);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

/** Run in the background: keep what `box` shows unless there is a problem to show. */
async function quietly(box, action) {
  try {
    await action();
  } catch (err) {
    showError(box, err);
  }
}

function loading() {
  return h("p", { class: "muted loading" }, t("loading"));
}

function badge(text, tone, testid) {
  return h("span", { class: `badge badge-${tone}`, "data-testid": testid }, text);
}

function button(text, attrs, onclick) {
  return h("button", { type: "button", class: "btn", ...attrs, onclick }, text);
}

function submitButton(text, attrs) {
  return h("button", { type: "submit", class: "btn btn-primary", ...attrs }, text);
}

/** A quiet button that runs `action` again, its problem shown in `box`. */
function refreshButton(id, box, action) {
  return button(t("refresh"), { id, class: "btn btn-quiet" }, (e) => run(e.currentTarget, box, action));
}

/** Choices for a filter: "Any" first. */
function withAny(choices) {
  return [["", t("any")], ...choices];
}

function tableWrap(label, table) {
  return h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" }, table);
}

/** Column headings from text keys. */
function headings(...keys) {
  return keys.map((key) => t(key));
}

/** A table; each cell is labelled with its column (shown beside the value on narrow screens). */
function table(headings, tbody, attrs) {
  const label = (tr) => {
    if (tr.tagName !== "TR" || tr.firstElementChild?.hasAttribute("colspan")) return;
    [...tr.children].forEach((td, i) => headings[i] && td.setAttribute("data-label", headings[i]));
  };
  [...tbody.children].forEach(label);
  new MutationObserver((changes) => {
    for (const change of changes) for (const node of change.addedNodes) if (node.nodeType === 1) label(node);
  }).observe(tbody, { childList: true });
  return h(
    "table",
    attrs,
    h("thead", null, h("tr", null, headings.map((text) => h("th", { scope: "col" }, text)))),
    tbody,
  );
}

function field(id, labelText, control, hint) {
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, labelText),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
  );
}

function selectOf(id, options, value, attrs) {
  return h(
    "select",
    { id, name: id, ...attrs, value: value ?? "" },
    options.map(([v, text]) => h("option", { value: v }, text)),
  );
}

function langSelect(id, value) {
  return selectOf(id, LANGS.map((l) => [l, AUTONYMS[l]]), value);
}

function pageHead(titleKey, leadKey) {
  return h(
    "header",
    { class: "page-head" },
    h("h1", { tabindex: "-1" }, t(titleKey)),
    leadKey ? h("p", { class: "lead" }, t(leadKey)) : null,
  );
}

/** A card with a heading, the heading's tools (a refresh button) beside it, then children. */
function section(id, title, tools, ...children) {
  return h(
    "section",
    { class: "card", "aria-labelledby": `${id}-h` },
    h("div", { class: "section-head" }, h("h2", { id: `${id}-h` }, title), tools),
    children,
  );
}

// ---------------------------------------------------------------- shell, sign-in, language

function initialLang() {
  const saved = store.get(LANG_STORE);
  if (LANGS.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language]) {
    const primary = String(tag || "").toLowerCase().split("-")[0];
    if (LANGS.includes(primary)) return primary;
  }
  return "en";
}

async function loadTexts(lang) {
  if (!state.textCache.has(lang)) {
    const response = await fetch(`console/i18n/${lang}.json`, { credentials: "omit" });
    if (!response.ok) throw new Error(`console/i18n/${lang}.json: HTTP ${response.status}`);
    state.textCache.set(lang, await response.json());
  }
  return state.textCache.get(lang);
}

async function setLang(lang) {
  if (!LANGS.includes(lang)) return;
  const texts = await loadTexts(lang);
  state.lang = lang;
  state.texts = texts;
  store.set(LANG_STORE, lang);
  renderShell();
  route(false);
  document.getElementById("lang")?.focus();
}

function renderShell() {
  document.documentElement.lang = state.lang;
  const main = h("main", { id: "main", tabindex: "-1" });
  const skip = button(t("skip_to_content"), { class: "skip" }, () => main.focus());
  const tools = h(
    "div",
    { class: "tools" },
    h("label", { for: "lang" }, t("language")),
    h(
      "select",
      {
        id: "lang",
        "data-testid": "lang-select",
        value: state.lang,
        onchange: (e) =>
          setLang(e.target.value).catch((err) => state.main.prepend(problemView(err))),
      },
      LANGS.map((l) => h("option", { value: l, lang: l }, AUTONYMS[l])),
    ),
    state.key
      ? button(t("sign_out"), { id: "sign-out", class: "btn btn-quiet" }, () => signOut(t("signed_out")))
      : null,
  );
  const header = h("header", { class: "topbar" }, skip, h("p", { class: "brand" }, t("title")), tools);
  const nav = state.key
    ? h(
        "nav",
        { class: "sidenav", "aria-label": t("nav_label") },
        h(
          "ul",
          null,
          PAGE_ORDER.map((name) =>
            h(
              "li",
              null,
              h("a", { href: `#/${name}`, id: `nav-${name}`, "data-page": name }, t(`nav_${name}`)),
            ),
          ),
        ),
      )
    : null;
  state.main = main;
  put(document.body, header, h("div", { class: "layout" }, nav, main));
}

function signOut(message) {
  store.del(KEY_STORE);
  state.key = null;
  renderShell();
  renderSignIn(message);
}

function renderSignIn(message) {
  document.title = `${t("signin_title")} · ${t("title")}`;
  const input = h("input", {
    id: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    placeholder: "gwk_…",
    "aria-required": "true",
  });
  const box = msgBox("signin-msg");
  if (message) say(box, message, "info");
  const submit = submitButton(t("signin_submit"), { id: "signin-submit" });
  const form = h(
    "form",
    { id: "signin-form", method: "post", novalidate: true, class: "stack" },
    field("api-key", t("signin_key"), input, t("signin_key_hint")),
    h("div", { class: "actions" }, submit),
    box,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      say(box, t("signin_key_missing"), "bad");
      input.focus();
      return;
    }
    await run(submit, box, async () => {
      try {
        await api("v1/webhooks", { key, signOutOn401: false });
      } catch (err) {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          err.problem = { ...err.problem, title: t("signin_rejected") };
        }
        throw err;
      }
      input.value = "";
      state.key = key;
      store.set(KEY_STORE, key);
      renderShell();
      if (!location.hash || location.hash === "#" || location.hash === "#/") {
        history.replaceState(null, "", "#/endpoints");
      }
      route(true);
    });
  });
  put(state.main, 
    h(
      "div",
      { class: "signin card" },
      h("h1", { tabindex: "-1" }, t("signin_title")),
      h("p", { class: "lead" }, t("signin_lead")),
      form,
    ),
  );
}

const PAGES = {
  endpoints: pageEndpoints,
  deliveries: pageDeliveries,
  unmapped: pageUnmapped,
  connectors: pageConnectors,
  orders: pageOrders,
  fbo: pageFbo,
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [name, query] = raw.split("?");
  return { name: Object.hasOwn(PAGES, name) ? name : "endpoints", params: new URLSearchParams(query || "") };
}

/** Keep the page's filters in the address (never the key) without a new navigation. */
function setHash(name, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) query.set(k, v);
  const text = query.toString();
  history.replaceState(null, "", `#/${name}${text ? `?${text}` : ""}`);
}

function route(focus) {
  if (!state.key) {
    renderSignIn();
    return;
  }
  const { name, params } = parseHash();
  for (const link of document.querySelectorAll(".sidenav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${t(`nav_${name}`)} · ${t("title")}`;
  const root = h("div", { class: "page", "data-page": name });
  put(state.main, root);
  PAGES[name](root, params).catch((err) => root.append(problemView(err)));
  if (focus) root.querySelector("h1")?.focus();
}

// ---------------------------------------------------------------- filters (create and edit)

function checkboxGroup(prefix, legend, name, entries, chosen) {
  const picked = new Set(chosen || []);
  const set = h(
    "fieldset",
    { class: "checks", id: `${prefix}-${name}` },
    h("legend", null, legend),
    h(
      "div",
      { class: "check-grid" },
      entries.map(([value, text]) => {
        const id = `${prefix}-${name}-${value}`.replace(/[^\w-]/g, "_");
        return h(
          "div",
          { class: "check" },
          h("input", { type: "checkbox", id, value, checked: picked.has(value) }),
          h("label", { for: id }, text),
        );
      }),
    ),
  );
  const read = () => {
    const values = [...set.querySelectorAll("input:checked")].map((i) => i.value);
    return values.length ? values : null;
  };
  return { set, read };
}

function filterFields(prefix, filter, v, plats) {
  const f = filter || {};
  const group = (name, legend, entries) => checkboxGroup(prefix, legend, name, entries, f[name]);
  const groups = {
    platforms: group("platforms", t("f_platforms"), plats.map((p) => [p.platform, p.name])),
    stages: group("stages", t("f_stages"), v.stages.map((s) => [s.code, s.label])),
    statuses: group("statuses", t("f_statuses"), v.codes.map((c) => [c.code, c.label])),
    types: group("types", t("f_types"), EVENT_TYPES.map((ty) => [ty, eventTypeLabel(ty)])),
  };
  const element = h(
    "div",
    { class: "filters" },
    h("p", { class: "hint" }, t("f_hint")),
    groups.platforms.set,
    groups.stages.set,
    groups.statuses.set,
    groups.types.set,
  );
  const read = () => Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, g.read()]));
  const fields = {
    filter: element,
    "filter/platforms": groups.platforms.set,
    "filter/stages": groups.stages.set,
    "filter/statuses": groups.statuses.set,
    "filter/types": groups.types.set,
  };
  return { element, read, fields };
}

function eventTypeLabel(type) {
  const keys = {
    "order.status_changed": "type_status_changed",
    "fbo.deadline_at_risk": "type_fbo_at_risk",
    "fbo.deadline_missed": "type_fbo_missed",
    "endpoint.disabled": "type_endpoint_disabled",
    "endpoint.failing": "type_endpoint_failing",
    "endpoint.recovered": "type_endpoint_recovered",
    "connector.paused": "type_connector_paused",
    "connector.item_rejected": "type_item_rejected",
    "webhook.test": "type_test",
  };
  return keys[type] ? t(keys[type]) : String(type || "—");
}

function filterSummary(f, v) {
  const parts = [];
  if (f?.platforms?.length) parts.push([t("f_platforms"), f.platforms.map(platformName)]);
  if (f?.stages?.length) parts.push([t("f_stages"), f.stages.map((s) => labelOf(v.stages, s))]);
  if (f?.statuses?.length) parts.push([t("f_statuses"), f.statuses.map((s) => labelOf(v.codes, s))]);
  if (f?.types?.length) parts.push([t("f_types"), f.types.map(eventTypeLabel)]);
  if (!parts.length) return h("span", { class: "muted" }, t("f_any"));
  return h(
    "ul",
    { class: "plain" },
    parts.map(([label, values]) => h("li", null, t("pair", { label, value: values.join(", ") }))),
  );
}

// ---------------------------------------------------------------- endpoints

// A read-only value with a Copy button (falls back to selecting it where copying is refused).
function copyField(id, value, testid) {
  const input = h("input", {
    id,
    type: "text",
    readOnly: true,
    value,
    class: "mono secret-value",
    spellcheck: "false",
    autocomplete: "off",
    "data-testid": testid,
  });
  const copied = h("span", { class: "muted", "aria-live": "polite" });
  const copy = button(t("secret_copy"), { "data-testid": `${testid}-copy` }, async () => {
    try {
      await navigator.clipboard.writeText(value);
      copied.textContent = t("secret_copied");
    } catch {
      input.focus();
      input.select();
      copied.textContent = t("secret_copy_manual");
    }
  });
  return h("div", { class: "inline" }, input, copy, copied);
}

// The public key that verifies `v1a` signatures: not a secret, so it can be shown any time.
function publicKeyField(key) {
  const id = uid("pk");
  return h(
    "div",
    { class: "public-key", "data-testid": "public-key" },
    h("label", { for: id }, t("public_key_label")),
    copyField(id, key, "public-key-value"),
  );
}

function secretPanel(secret, heading, note, publicKey) {
  const id = uid("secret");
  const panel = h(
    "div",
    { class: "secret", "data-testid": "secret-panel", role: "group", "aria-labelledby": `${id}-h` },
    h("p", { class: "secret-heading", id: `${id}-h` }, heading),
    h("label", { for: id }, t("secret_label")),
    copyField(id, secret, "secret-value"),
    h("p", { class: "note note-warn" }, t("secret_once")),
    publicKey ? publicKeyField(publicKey) : null,
    note ? h("p", { class: "hint" }, note) : null,
  );
  const done = button(t("secret_done"), { class: "btn btn-quiet", "data-testid": "secret-done" }, () =>
    panel.remove(),
  );
  panel.append(done);
  return panel;
}

function endpointForm(prefix, ep, v, plats, submitText, onSave, extra) {
  const url = h("input", {
    id: `${prefix}-url`,
    type: "url",
    value: ep?.url || "",
    placeholder: "https://shop.example/hooks/status",
    autocomplete: "off",
    "aria-required": "true",
  });
  const lang = langSelect(`${prefix}-lang`, ep?.lang || state.lang);
  const description = h("input", {
    id: `${prefix}-description`,
    type: "text",
    value: ep?.description || "",
    maxlength: "500",
  });
  const filter = filterFields(prefix, ep?.filter, v, plats);
  const schemes = checkboxGroup(
    prefix,
    t("f_signatures"),
    "signature_schemes",
    SCHEMES.map((s) => [s, t(`sig_${s}`)]),
    ep?.signature_schemes || ["v1"],
  );
  const fields = { url, lang, description, signature_schemes: schemes.set, ...filter.fields };
  const box = msgBox(`${prefix}-msg`);
  const submit = submitButton(submitText, { id: `${prefix}-submit` });
  const form = h(
    "form",
    { id: `${prefix}-form`, method: "post", novalidate: true, class: "stack" },
    h(
      "div",
      { class: "row" },
      field(`${prefix}-url`, t("ep_url"), url, t("ep_url_hint")),
      field(`${prefix}-lang`, t("ep_lang"), lang),
    ),
    field(`${prefix}-description`, t("ep_description"), description),
    schemes.set,
    filter.element,
    h("div", { class: "actions" }, submit, extra),
    box,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      url: url.value.trim(),
      lang: lang.value,
      description: description.value.trim() || null,
      signature_schemes: schemes.read() || [],
      filter: filter.read(),
    };
    run(submit, box, () => onSave(body, form, box), fields);
  });
  return form;
}

function endpointState(ep, last) {
  if (!ep.enabled || ep.disabled_at) return { rank: 0, tone: "bad", text: t("ep_state_disabled") };
  if (last && last.result !== "delivered") return { rank: 1, tone: "warn", text: t("ep_state_failing") };
  return { rank: 2, tone: "ok", text: t("ep_state_active") };
}

async function pageEndpoints(root) {
  const status = msgBox("endpoints-msg");
  const list = h("div", { id: "endpoints-list" }, loading());
  const created = h("div", { id: "ep-created", "aria-live": "polite" });
  const createArea = h("div", null, loading());
  root.append(
    pageHead("nav_endpoints", "ep_lead"),
    section(
      "ep-list",
      t("ep_list"),
      refreshButton("endpoints-refresh", status, () => load()),
      status,
      list,
    ),
    section("ep-new", t("ep_new"), null, created, createArea),
  );

  let v;
  let plats;
  try {
    [v, plats] = await Promise.all([vocab(), platforms()]);
  } catch (err) {
    showError(status, err);
    createArea.replaceChildren();
    return;
  }
  put(createArea, 
    endpointForm("ep-new", null, v, plats, t("ep_create"), async (body, form) => {
      const ep = await api("v1/webhooks", { method: "POST", body });
      form.reset();
      form.querySelector("select").value = state.lang;
      const key = ep.signature_schemes.includes("v1a") ? ep.public_key : null;
      put(created, secretPanel(ep.secret, t("ep_created", { url: ep.url }), null, key));
      await load();
      created.querySelector("input")?.focus();
    }),
  );
  await run(null, status, load);

  async function load() {
    // The list carries each endpoint's backlog and latest attempt: one request for the page.
    const { webhooks } = await api("v1/webhooks");
    const rows = webhooks.map((ep) => ({ ep, last: ep.last_attempt || null }));
    for (const row of rows) row.state = endpointState(row.ep, row.last);
    rows.sort(
      (a, b) =>
        a.state.rank - b.state.rank ||
        (b.ep.pending || 0) - (a.ep.pending || 0) ||
        a.ep.url.localeCompare(b.ep.url),
    );
    if (!rows.length) {
      put(list, h("p", { class: "empty" }, t("ep_none")));
      return;
    }
    const tbody = h("tbody");
    for (const row of rows) tbody.append(...endpointRows(row, v, load, status));
    put(list, 
      tableWrap(
        t("ep_list"),
        table(
          headings("col_endpoint", "col_lang", "col_filter", "col_state", "col_pending", "col_actions"),
          tbody,
          { class: "grid endpoints", "data-testid": "endpoints-table" },
        ),
      ),
    );
  }

  function endpointRows({ ep, last, state: st }, vocabulary, reload, pageBox) {
    const panel = h("div", { class: "row-panel", "data-testid": "ep-panel", tabindex: "-1" });
    const panelRow = h("tr", { class: "panel-row", hidden: true }, h("td", { colspan: "6" }, panel));
    const open = (...nodes) => {
      put(panel, ...nodes);
      panelRow.hidden = false;
      panel.focus(); // keyboard and screen-reader users land on what the action opened
    };
    const close = () => {
      panel.replaceChildren();
      panelRow.hidden = true;
    };
    const cancel = () => button(t("cancel"), { class: "btn btn-quiet" }, close);

    const edit = () =>
      open(
        h("h3", null, t("ep_edit_title")),
        endpointForm(
          uid("ep-edit"),
          ep,
          vocabulary,
          state.platforms || [],
          t("save"),
          async (body) => {
            await api(`v1/webhooks/${enc(ep.id)}`, { method: "PATCH", body });
            await reload();
            say(pageBox, t("ep_saved", { url: body.url }));
          },
          cancel(),
        ),
      );

    const test = async (e) => {
      const box = msgBox(null);
      open(h("h3", null, t("ep_test_title")), box);
      await run(e.currentTarget, box, async () => {
        say(box, t("ep_test_sending"), "info");
        const r = await api(`v1/webhooks/${enc(ep.id)}/test`, { method: "POST" });
        put(box, testResult(r));
      });
    };

    const rotate = () => {
      const box = msgBox(null);
      const attrs = { class: "btn btn-primary", "data-testid": "ep-rotate-confirm" };
      const go = button(t("ep_rotate"), attrs, (e) =>
        run(e.currentTarget, box, async () => {
          const r = await api(`v1/webhooks/${enc(ep.id)}/rotate-secret`, { method: "POST" });
          const note = r.previous_valid_until
            ? t("secret_previous_until", { time: fmtDate(r.previous_valid_until) })
            : null;
          const key = ep.signature_schemes?.includes("v1a") ? r.public_key : null;
          open(secretPanel(r.secret, t("secret_rotated"), note, key));
        }),
      );
      open(h("p", null, t("ep_rotate_confirm")), h("div", { class: "actions" }, go, cancel()), box);
    };

    const remove = () => {
      const box = msgBox(null);
      const attrs = { class: "btn btn-danger", "data-testid": "ep-delete-confirm" };
      const go = button(t("ep_delete"), attrs, (e) =>
        run(e.currentTarget, box, async () => {
          await api(`v1/webhooks/${enc(ep.id)}`, { method: "DELETE" });
          await reload();
          say(pageBox, t("ep_deleted", { url: ep.url }));
        }),
      );
      open(
        h("p", null, t("ep_delete_confirm", { url: ep.url })),
        h("div", { class: "actions" }, go, cancel()),
        box,
      );
    };

    const enable = (e) =>
      run(e.currentTarget, pageBox, async () => {
        await api(`v1/webhooks/${enc(ep.id)}/enable`, { method: "POST" });
        await reload();
        say(pageBox, t("ep_enabled", { url: ep.url }));
      });

    const stateCell = h("td", null, badge(st.text, st.tone, "ep-state"));
    if (ep.disabled_at || ep.disabled_reason) {
      append(stateCell, [
        h("p", { class: "small" }, ep.disabled_reason || ""),
        ep.disabled_at
          ? h("p", { class: "small muted" }, t("ep_disabled_at", { time: fmtDate(ep.disabled_at) }))
          : null,
      ]);
    } else if (last && st.rank === 1) {
      append(stateCell, [
        h(
          "p",
          { class: "small" },
          t("ep_last_attempt", { result: resultLabel(last.result), time: fmtDate(last.at) }),
        ),
        last.error ? h("p", { class: "small error-text" }, trunc(last.error, 140)) : null,
      ]);
    }
    if (ep.secret_rotations_pending) {
      const count = num(ep.secret_rotations_pending);
      append(stateCell, [h("p", { class: "small muted" }, t("ep_rotations_pending", { count }))]);
    }

    const actions = h(
      "div",
      { class: "row-actions" },
      ep.enabled
        ? null
        : button(t("ep_enable"), { class: "btn btn-primary", "data-testid": "ep-enable" }, enable),
      button(t("ep_test"), { "data-testid": "ep-test" }, test),
      button(t("ep_edit"), { "data-testid": "ep-edit" }, edit),
      button(t("ep_rotate"), { "data-testid": "ep-rotate" }, rotate),
      h(
        "a",
        { class: "btn", href: `#/deliveries?endpoint=${enc(ep.id)}`, "data-testid": "ep-deliveries" },
        t("ep_deliveries"),
      ),
      button(t("ep_delete"), { class: "btn btn-danger-quiet", "data-testid": "ep-delete" }, remove),
    );

    const main = h(
      "tr",
      { "data-endpoint-id": ep.id, "data-testid": "endpoint-row" },
      h(
        "td",
        null,
        h("p", { class: "mono url", "data-testid": "ep-url" }, ep.url),
        ep.description ? h("p", { class: "small" }, ep.description) : null,
        h("p", { class: "small muted mono" }, ep.id),
        h(
          "p",
          { class: "small muted", "data-testid": "ep-schemes" },
          t("ep_signatures", { schemes: (ep.signature_schemes || ["v1"]).join(", ") }),
        ),
        ep.signature_schemes?.includes("v1a") && ep.public_keys?.length
          ? publicKeyField(ep.public_keys[0].key)
          : null,
      ),
      h("td", null, AUTONYMS[ep.lang] || ep.lang),
      h("td", null, filterSummary(ep.filter, vocabulary)),
      stateCell,
      h(
        "td",
        { class: "num", "data-testid": "ep-pending" },
        num(ep.pending || 0),
      ),
      h("td", null, actions),
    );
    return [main, panelRow];
  }
}

function testResult(r) {
  return h(
    "div",
    { class: "result", "data-testid": "test-result" },
    h(
      "p",
      null,
      badge(r.delivered ? t("test_delivered") : t("test_not_delivered"), r.delivered ? "ok" : "bad"),
      " ",
      r.status_code === null || r.status_code === undefined
        ? t("test_no_answer", { duration: duration(r.duration_ms) })
        : t("test_answer", { code: r.status_code, duration: duration(r.duration_ms) }),
    ),
    r.error ? h("p", { class: "error-text" }, r.error) : null,
    r.response ? h("pre", { class: "response" }, trunc(r.response, 1024)) : null,
    h("p", { class: "small muted" }, `webhook-id: ${r.msg_id}`),
  );
}

function orderLink(platform, orderId) {
  return `#/orders?${new URLSearchParams({ platform: platform || "", order_id: orderId })}`;
}

function resultLabel(result) {
  const keys = {
    delivered: "result_delivered",
    retrying: "result_retrying",
    failed: "result_failed",
    gone: "result_gone",
  };
  return keys[result] ? t(keys[result]) : result;
}

// ---------------------------------------------------------------- deliveries

/** One delivery attempt as a table row; `replay` adds the per-order replay button. */
function deliveryRow(d, { replay, showEndpoint } = {}) {
  const event = h(
    "td",
    null,
    h("p", null, eventTypeLabel(d.type)),
    d.order_id
      ? h(
          "p",
          { class: "small" },
          h(
            "a",
            { href: orderLink(d.platform, d.order_id) },
            t("order_ref", { platform: platformName(d.platform), order: d.order_id }),
          ),
          d.sequence ? ` · ${t("delivery_seq", { n: d.sequence })}` : "",
        )
      : null,
    h("p", { class: "small muted mono", title: "webhook-id" }, d.msg_id),
  );
  const result = h(
    "td",
    null,
    badge(resultLabel(d.result), RESULT_TONE[d.result] || "muted", "delivery-result"),
    h("p", { class: "small muted" }, t("delivery_attempt", { n: num(d.attempt) })),
    d.next_attempt_at
      ? h("p", { class: "small" }, t("delivery_next", { time: fmtDate(d.next_attempt_at, SECONDS) }))
      : null,
  );
  const answer = h("td", { class: "answer" });
  const long = (text, cls, max) =>
    text.length <= max
      ? h("p", { class: cls }, text)
      : h(
          "details",
          null,
          h("summary", { class: cls }, trunc(text, max)),
          h("pre", { class: "response" }, text),
        );
  if (d.error) answer.append(long(d.error, "small error-text", 90));
  if (d.response) answer.append(long(d.response, "small mono", 90));
  if (!d.error && !d.response) answer.append(h("span", { class: "muted" }, "—"));
  const cells = [
    h("td", { class: "nowrap" }, when(d.at, { seconds: true })),
    showEndpoint
      ? h(
          "td",
          { class: "mono small" },
          h("a", { href: `#/deliveries?endpoint=${enc(d.endpoint_id)}` }, d.endpoint_id),
        )
      : null,
    event,
    result,
    h("td", { class: "num" }, d.status_code ?? "—"),
    h("td", { class: "num nowrap" }, duration(d.duration_ms)),
    answer,
  ];
  if (replay) {
    const canReplay = d.type === "order.status_changed" && d.order_id && d.platform;
    cells.push(
      h(
        "td",
        null,
        canReplay
          ? button(
              t("replay_order"),
              {
                class: "btn btn-small",
                "data-testid": "replay-order",
                "data-order-id": d.order_id,
                "aria-label": t("replay_order_label", { order: d.order_id }),
              },
              (e) => replay(e.currentTarget, d),
            )
          : null,
      ),
    );
  }
  return h("tr", { "data-testid": "delivery-row", "data-msg-id": d.msg_id, "data-result": d.result }, cells);
}

function deliveryHeadings({ replay, showEndpoint } = {}) {
  return [
    t("col_time"),
    showEndpoint ? t("col_endpoint") : null,
    t("col_event"),
    t("col_result"),
    t("col_status_code"),
    t("col_duration"),
    t("col_answer"),
    replay ? t("col_actions") : null,
  ].filter(Boolean);
}

async function pageDeliveries(root, params) {
  root.append(pageHead("nav_deliveries", "dl_lead"));
  const box = msgBox("dl-msg");
  let eps;
  let plats;
  try {
    [eps, plats] = await Promise.all([api("v1/webhooks").then((r) => r.webhooks), platforms()]);
  } catch (err) {
    root.append(box);
    showError(box, err);
    return;
  }
  if (!eps.length) {
    const link = h("a", { href: "#/endpoints" }, t("dl_go_endpoints"));
    root.append(h("p", { class: "empty" }, t("dl_no_endpoints"), " ", link));
    return;
  }
  const chosen = eps.some((e) => e.id === params.get("endpoint")) ? params.get("endpoint") : eps[0].id;
  const endpointName = (e) => (e.description ? `${e.url} — ${e.description}` : e.url);
  const endpoint = selectOf("dl-endpoint", eps.map((e) => [e.id, endpointName(e)]), chosen);
  const results = withAny(RESULTS.map((r) => [r, resultLabel(r)]));
  const result = selectOf("dl-status", results, params.get("status") || "");
  const platforms_ = withAny(plats.map((p) => [p.platform, p.name]));
  const platform = selectOf("dl-platform", platforms_, params.get("platform") || "");
  const order = h("input", {
    id: "dl-order",
    type: "search",
    value: params.get("order_id") || "",
    autocomplete: "off",
  });
  const fields = { status: result, platform, order_id: order, endpoint_id: endpoint };
  const apply = h("button", { type: "submit", class: "btn btn-primary", id: "dl-apply" }, t("show"));
  const form = h(
    "form",
    { id: "dl-filters", method: "post", novalidate: true, class: "row filters-row" },
    field("dl-endpoint", t("dl_endpoint"), endpoint),
    field("dl-status", t("dl_result"), result),
    field("dl-platform", t("dl_platform"), platform),
    field("dl-order", t("dl_order"), order),
    h("div", { class: "actions" }, apply),
  );
  const tbody = h("tbody");
  const more = button(t("more"), { id: "dl-more", hidden: true }, (e) =>
    run(e.currentTarget, box, () => load(false), fields),
  );
  const refresh = refreshButton("dl-refresh", box, () => load(true));
  const shown = h("p", { class: "small muted", id: "dl-count" });
  let cursor = null;
  let count = 0;
  const timers = [];

  const replayOrder = (btn, d) =>
    run(btn, box, async () => {
      const r = await api(`v1/webhooks/${enc(endpoint.value)}/replay`, {
        method: "POST",
        body: { platform: d.platform, order_id: d.order_id },
      });
      say(box, t("replay_order_done", { order: d.order_id, count: num(r.queued) }));
      refreshSoon();
    });

  async function load(reset) {
    const data = await api(`v1/webhooks/${enc(endpoint.value)}/deliveries`, {
      query: {
        status: result.value,
        platform: platform.value,
        order_id: order.value.trim(),
        limit: PAGE_SIZE,
        cursor: reset ? null : cursor,
      },
    });
    if (reset) {
      tbody.replaceChildren();
      count = 0;
    }
    for (const d of data.deliveries) tbody.append(deliveryRow(d, { replay: replayOrder }));
    count += data.deliveries.length;
    if (!count) tbody.append(h("tr", null, h("td", { colspan: "7", class: "empty" }, t("dl_none"))));
    cursor = data.next_cursor;
    more.hidden = !cursor;
    shown.textContent = t("shown_count", { count: num(count) });
  }

  function refreshSoon() {
    for (const id of timers.splice(0)) clearTimeout(id);
    for (const delay of [600, 2000]) {
      timers.push(setTimeout(() => root.isConnected && quietly(box, () => load(true)), delay));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setHash("deliveries", {
      endpoint: endpoint.value,
      status: result.value,
      platform: platform.value,
      order_id: order.value.trim(),
    });
    run(apply, box, () => load(true), fields);
  });

  // replay a time range
  const since = h("input", { id: "rp-since", type: "datetime-local", step: "1" });
  const until = h("input", { id: "rp-until", type: "datetime-local", step: "1" });
  const rangeBox = msgBox("rp-msg");
  const rangeSubmit = submitButton(t("replay_range"), { id: "rp-submit" });
  const rangeForm = h(
    "form",
    { id: "rp-form", method: "post", novalidate: true, class: "row filters-row" },
    field("rp-since", t("replay_since"), since),
    field("rp-until", t("replay_until"), until),
    h("div", { class: "actions" }, rangeSubmit),
  );
  rangeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(
      rangeSubmit,
      rangeBox,
      async () => {
        const r = await api(`v1/webhooks/${enc(endpoint.value)}/replay`, {
          method: "POST",
          body: { since: isoFromLocal(since.value), until: isoFromLocal(until.value) },
        });
        say(rangeBox, t("replay_range_done", { count: num(r.queued) }));
        refreshSoon();
      },
      { since, until },
    );
  });

  root.append(
    section(
      "dl-log",
      t("dl_log"),
      refresh,
      form,
      box,
      tableWrap(
        t("dl_log"),
        table(deliveryHeadings({ replay: true }), tbody, {
          class: "grid deliveries",
          "data-testid": "deliveries-table",
        }),
      ),
      h("div", { class: "actions after-table" }, more, shown),
    ),
    section(
      "rp",
      t("replay_range_title"),
      null,
      h("p", { class: "hint" }, t("replay_range_hint")),
      rangeForm,
      rangeBox,
    ),
  );
  await run(null, box, () => load(true), fields);
}

// ---------------------------------------------------------------- unmapped codes

// What a mapping means: an order status → canonical status (with detail and action); a
// CloudCart payment code → payment state; a fulfilment code → goods state (and what it refines).
function meaningFields(prefix, part, v, existing, suggested) {
  const codes = v.codes.filter((c) => c.code !== "unknown").map((c) => [c.code, `${c.label} (${c.code})`]);
  const optional = (entries) => [["", t("none")], ...entries.map((e) => [e.code, e.label])];
  const required = (name, entries, value) =>
    selectOf(`${prefix}-${name}`, [["", t("choose")], ...entries], value || "", {
      "data-testid": `map-${name}`,
      "aria-required": "true",
    });
  const fieldOf = (name, labelKey, control) => field(`${prefix}-${name}`, t(labelKey), control);
  if (part === "payment") {
    const payment = required("payment", v.payment.map((e) => [e.code, e.label]), existing?.payment);
    return {
      fields: { payment },
      element: h("div", { class: "row" }, fieldOf("payment", "map_payment", payment)),
      read: () => ({ payment: payment.value || null }),
      label: (saved) => labelOf(v.payment, saved.payment),
    };
  }
  if (part === "fulfillment") {
    const goods = required("fulfillment", v.fulfillment.map((e) => [e.code, e.label]), existing?.fulfillment);
    const refines = selectOf(`${prefix}-refines`, [["", t("none")], ...codes], existing?.refines || "", {
      "data-testid": "map-refines",
    });
    const completes = h("input", {
      id: `${prefix}-completes`,
      type: "checkbox",
      checked: Boolean(existing?.completes_when_paid),
      "data-testid": "map-completes",
    });
    return {
      fields: { fulfillment: goods, refines, completes_when_paid: completes },
      element: h(
        "div",
        { class: "row" },
        fieldOf("fulfillment", "map_fulfillment", goods),
        fieldOf("refines", "map_refines", refines),
        h("div", { class: "check" }, completes, h("label", { for: `${prefix}-completes` }, t("map_completes"))),
      ),
      read: () => ({
        fulfillment: goods.value || null,
        refines: refines.value || null,
        completes_when_paid: completes.checked,
      }),
      label: (saved) => labelOf(v.fulfillment, saved.fulfillment),
    };
  }
  const canonical = required("canonical", codes, existing?.canonical || suggested.canonical);
  const detail = selectOf(`${prefix}-detail`, optional(v.details), existing?.detail || "", {
    "data-testid": "map-detail",
  });
  const action = selectOf(`${prefix}-action`, optional(v.actions), existing?.action_required || "", {
    "data-testid": "map-action",
  });
  return {
    fields: { canonical, detail, action_required: action },
    element: h(
      "div",
      { class: "row" },
      fieldOf("canonical", "map_canonical", canonical),
      fieldOf("detail", "map_detail", detail),
      fieldOf("action", "map_action", action),
    ),
    read: () => ({
      canonical: canonical.value || null,
      detail: detail.value || null,
      action_required: action.value || null,
    }),
    label: (saved) => labelOf(v.codes, saved.canonical),
  };
}

function mappingPart(platform) {
  const part = platform.split(".")[1];
  return part === "payment" || part === "fulfillment" ? part : null;
}

function mappingForm(u, v, existing, onSaved) {
  const prefix = uid("map");
  const suggested = u.suggested || {};
  const meaning = meaningFields(prefix, mappingPart(u.platform), v, existing, suggested);
  const labels = {};
  const descriptions = {};
  for (const l of LANGS) {
    labels[l] = h("input", {
      id: `${prefix}-label-${l}`,
      type: "text",
      lang: l,
      maxlength: "200",
      value: existing?.labels?.[l] || suggested.label || "",
      "data-testid": `map-label-${l}`,
      "aria-required": "true",
    });
    descriptions[l] = h("input", {
      id: `${prefix}-desc-${l}`,
      type: "text",
      lang: l,
      maxlength: "1000",
      value: existing?.descriptions?.[l] || "",
      "data-testid": `map-desc-${l}`,
    });
  }
  const fields = { ...meaning.fields };
  for (const l of LANGS) {
    fields[`labels/${l}`] = labels[l];
    fields[`descriptions/${l}`] = descriptions[l];
  }
  const box = msgBox(`${prefix}-msg`);
  const submit = submitButton(t("map_save"), { "data-testid": "map-save" });
  const form = h(
    "form",
    { method: "post", novalidate: true, class: "stack mapping-form", "data-testid": "map-form" },
    suggested.canonical || suggested.label
      ? h("p", { class: "hint" }, t("map_suggested_hint"))
      : null,
    meaning.element,
    h(
      "fieldset",
      { id: `${prefix}-labels` },
      h("legend", null, t("map_labels")),
      h("div", { class: "row" }, LANGS.map((l) => field(`${prefix}-label-${l}`, AUTONYMS[l], labels[l]))),
    ),
    h(
      "fieldset",
      null,
      h("legend", null, t("map_descriptions")),
      h(
        "div",
        { class: "row" },
        LANGS.map((l) => field(`${prefix}-desc-${l}`, AUTONYMS[l], descriptions[l])),
      ),
    ),
    h("div", { class: "actions" }, submit),
    box,
  );
  fields.labels = form.querySelector("fieldset");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      ...meaning.read(),
      labels: Object.fromEntries(LANGS.map((l) => [l, labels[l].value.trim()])),
      descriptions: Object.fromEntries(
        LANGS.map((l) => [l, descriptions[l].value.trim()]).filter(([, text]) => text),
      ),
    };
    run(
      submit,
      box,
      async () => {
        const saved = await api(`v1/mappings/${enc(u.platform)}/${enc(u.code)}`, { method: "PUT", body });
        await onSaved(saved, meaning.label(saved));
      },
      fields,
    );
  });
  return form;
}

async function pageUnmapped(root) {
  const box = msgBox("um-msg");
  const list = h("div", { id: "unmapped-list" }, loading());
  root.append(
    pageHead("nav_unmapped", "um_lead"),
    section("um", t("um_list"), refreshButton("um-refresh", box, () => load()), box, list),
  );
  let v;
  try {
    [v] = await Promise.all([vocab(), platforms()]);
  } catch (err) {
    showError(box, err);
    list.replaceChildren();
    return;
  }
  await run(null, box, load);

  async function load() {
    const { unmapped } = await api("v1/unmapped");
    if (!unmapped.length) {
      put(list, h("p", { class: "empty" }, t("um_none")));
      return;
    }
    const tbody = h("tbody");
    for (const u of unmapped) tbody.append(...rows(u));
    put(list, 
      tableWrap(
        t("um_list"),
        table(
          headings(
            "col_platform",
            "col_code",
            "col_count",
            "col_first_seen",
            "col_last_seen",
            "col_last_order",
            "col_suggested",
            "col_state",
            "col_actions",
          ),
          tbody,
          { class: "grid unmapped", "data-testid": "unmapped-table" },
        ),
      ),
    );
  }

  function rows(u) {
    const formId = uid("um-form");
    const panel = h("td", { colspan: "9" });
    const panelRow = h("tr", { class: "panel-row", id: formId, hidden: true }, panel);
    const base = u.platform.split(".")[0];
    const attrs = { "data-testid": "map-open", "aria-expanded": "false", "aria-controls": formId };
    const toggle = button(u.mapped ? t("map_edit") : t("map_open"), attrs, (e) => {
      const btn = e.currentTarget;
      if (!panelRow.hidden) {
        panelRow.hidden = true;
        btn.setAttribute("aria-expanded", "false");
        return;
      }
      run(btn, box, async () => {
        const existing = u.mapped ? await api(`v1/mappings/${enc(u.platform)}/${enc(u.code)}`) : null;
        put(panel, 
          h("h3", null, t("map_title", { platform: platformName(u.platform), code: u.code })),
          mappingForm(u, v, existing, async (_saved, label) => {
            await load();
            say(box, t("map_saved", { platform: platformName(u.platform), code: u.code, label }));
          }),
        );
        panelRow.hidden = false;
        btn.setAttribute("aria-expanded", "true");
        panel.querySelector("select")?.focus();
      });
    });
    const s = u.suggested;
    const suggestedCell = h(
      "td",
      null,
      s
        ? [
            s.canonical ? h("p", null, labelOf(v.codes, s.canonical)) : null,
            s.label ? h("p", { class: "small" }, t("um_store_label", { label: s.label })) : null,
            s.reason ? h("p", { class: "small muted" }, s.reason) : null,
          ]
        : h("span", { class: "muted" }, "—"),
    );
    const row = h(
      "tr",
      { "data-testid": "unmapped-row", "data-platform": u.platform, "data-code": u.code },
      h("td", null, platformName(u.platform)),
      h("td", { class: "mono" }, u.code),
      h("td", { class: "num" }, num(u.count)),
      h("td", { class: "nowrap" }, when(u.first_seen)),
      h("td", { class: "nowrap" }, when(u.last_seen)),
      h(
        "td",
        null,
        u.order_id
          ? h("a", { href: orderLink(base, u.order_id) }, u.order_id)
          : h("span", { class: "muted" }, "—"),
      ),
      suggestedCell,
      h(
        "td",
        null,
        u.mapped ? badge(t("um_mapped"), "ok", "um-state") : badge(t("um_not_mapped"), "warn", "um-state"),
      ),
      h("td", null, toggle),
    );
    return [row, panelRow];
  }
}

// ---------------------------------------------------------------- connectors

const CONNECTOR_FIELDS = {
  store_url: "conn_store_url",
  email: "conn_email",
  login: "conn_login",
  extra: "conn_extra",
  stream_id: "conn_stream_id",
  api_url: "conn_api_url",
  api_key: "conn_api_key",
  password: "conn_password",
};
const CONNECTOR_KNOWN = new Set(["platform", "interval_s", "created_at", "updated_at", "paused", "health", "rejected"]);

function dl(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(Boolean)
      .map(([term, value, testid]) =>
        h("div", { "data-testid": testid }, h("dt", null, term), h("dd", null, value)),
      ),
  );
}

async function pageConnectors(root) {
  const grid = h("div", { class: "cards" });
  const refresh = button(t("refresh"), { id: "conn-refresh", class: "btn btn-quiet" }, () => route(false));
  root.append(pageHead("nav_connectors", "conn_lead"), h("div", { class: "toolbar" }, refresh), grid);
  try {
    await platforms();
  } catch {
    // names fall back to the platform codes
  }
  await Promise.all(
    CONNECTORS.map((p) => {
      const body = h("div", null, loading());
      const box = msgBox(`conn-${p}-msg`);
      grid.append(
        h(
          "article",
          { class: "card connector", "data-testid": `connector-${p}`, "aria-labelledby": `conn-${p}-h` },
          h("h2", { id: `conn-${p}-h` }, platformName(p)),
          body,
          box,
        ),
      );
      return fillConnector(p, body, box);
    }),
  );
}

async function fillConnector(p, body, box) {
  let c;
  try {
    c = await api(`v1/connectors/${enc(p)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      put(body, 
        badge(t("conn_not_configured"), "muted", "conn-state"),
        h("p", { class: "hint" }, t("conn_not_configured_hint", { path: `PUT /v1/connectors/${p}` })),
      );
      return;
    }
    body.replaceChildren();
    showError(box, err);
    return;
  }
  let backfill = null;
  try {
    backfill = await api(`v1/connectors/${enc(p)}/backfill`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) showError(box, err);
  }
  render(c);

  function render(conn) {
    const health = conn.health || {};
    let st;
    if (conn.paused) st = badge(t("conn_paused"), "bad", "conn-state");
    else if (health.failures_in_row > 0) st = badge(t("conn_failing"), "warn", "conn-state");
    else if (health.last_success_at) st = badge(t("conn_healthy"), "ok", "conn-state");
    else st = badge(t("conn_no_success"), "muted", "conn-state");
    const options = Object.entries(conn)
      .filter(([k]) => !CONNECTOR_KNOWN.has(k))
      .map(([k, val]) => [
        CONNECTOR_FIELDS[k] ? t(CONNECTOR_FIELDS[k]) : k,
        val === "set" ? t("conn_secret_set") : String(val ?? "—"),
      ]);
    const err = health.last_error;
    const poll = button(t("conn_run"), { class: "btn btn-primary", "data-testid": "conn-run" }, (e) =>
      run(e.currentTarget, box, async () => {
        const after = await api(`v1/connectors/${enc(p)}/run`, { method: "POST" });
        render(after);
        const failed = Boolean(after.health?.last_error && after.health.failures_in_row);
        say(box, failed ? t("conn_run_failed") : t("conn_run_done"), failed ? "warn" : "ok");
      }),
    );
    put(body, 
      h("p", null, st),
      conn.paused ? h("p", { class: "error-text" }, t("conn_paused_reason", { reason: conn.paused })) : null,
      dl([
        ...options.map(([k, val]) => [k, h("span", { class: "mono" }, val)]),
        [t("conn_interval"), conn.interval_s ? seconds(conn.interval_s) : t("conn_interval_default")],
        [t("conn_last_run"), when(health.last_run_at)],
        [t("conn_last_success"), when(health.last_success_at), "conn-last-success"],
        [t("conn_lag"), seconds(health.lag_s)],
        [t("conn_runs"), num(health.runs ?? 0)],
        [t("conn_orders_seen"), num(health.orders_seen ?? 0)],
        [t("conn_events_seen"), num(health.events_seen ?? 0)],
        [t("conn_failures"), num(health.failures_in_row ?? 0)],
        err
          ? [
              t("conn_last_error"),
              errorView(err),
              "conn-last-error",
            ]
          : null,
      ]),
      conn.rejected?.length ? rejectedView(p, conn.rejected, clear) : null,
      backfill ? backfillView(backfill) : h("p", { class: "small muted" }, t("backfill_none")),
      h("div", { class: "actions" }, poll),
    );
  }

  function clear(e) {
    return run(e.currentTarget, box, async () => {
      await api(`v1/connectors/${enc(p)}/rejected`, { method: "DELETE" });
      render(await api(`v1/connectors/${enc(p)}`));
      say(box, t("conn_rejected_cleared"), "ok");
    });
  }
}

/** The orders a connector set aside (it could not read them), with a button to clear the list. */
function rejectedView(p, rejected, clear) {
  const cols = headings("conn_rejected_order", "conn_rejected_problem", "conn_rejected_seen", "conn_rejected_times");
  const rows = h(
    "tbody",
    null,
    rejected.map((r) =>
      h(
        "tr",
        { "data-testid": "conn-rejected-row" },
        h("td", { class: "mono" }, r.order_id ?? t("conn_rejected_no_id")),
        h("td", null, h("span", { class: "error-text" }, r.detail), h("div", { class: "muted small mono" }, r.where)),
        h("td", null, when(r.last_seen_at)),
        h("td", null, num(r.times)),
      ),
    ),
  );
  return h(
    "section",
    { "data-testid": "conn-rejected", "aria-labelledby": `conn-${p}-rejected-h` },
    h("h3", { id: `conn-${p}-rejected-h` }, t("conn_rejected_title", { count: num(rejected.length) })),
    h("p", { class: "small muted" }, t("conn_rejected_hint")),
    tableWrap(t("conn_rejected_title", { count: num(rejected.length) }), table(cols, rows)),
    h("div", { class: "actions" }, button(t("conn_rejected_clear"), { class: "btn btn-quiet", "data-testid": "conn-rejected-clear" }, clear)),
  );
}

/** A connector's error: its class, message and time. */
function errorView(err) {
  return h(
    "span",
    null,
    h("span", { class: "mono" }, err.class),
    " ",
    h("span", { class: "error-text" }, err.message),
    " ",
    err.at ? h("span", { class: "muted small" }, when(err.at)) : null,
  );
}

function backfillView(b) {
  const progress =
    b.total
      ? h("progress", {
          max: String(b.total),
          value: String(Math.min(b.orders, b.total)),
          "aria-label": t("backfill_title"),
        })
      : null;
  let status = badge(t("backfill_stopped"), "warn");
  if (b.running) status = badge(t("backfill_running"), "info");
  else if (b.finished_at) status = badge(t("backfill_finished"), "ok");
  return h(
    "div",
    { class: "backfill", "data-testid": "backfill" },
    h("h3", null, t("backfill_title")),
    h("p", null, status),
    progress,
    dl([
      [t("backfill_since"), day(b.since)],
      [
        t("backfill_orders"),
        b.total ? t("backfill_of", { done: num(b.orders), total: num(b.total) }) : num(b.orders),
      ],
      [t("backfill_events"), num(b.events)],
      [t("backfill_pages"), num(b.pages)],
      [t("backfill_started"), when(b.started_at)],
      [t("backfill_updated"), when(b.updated_at)],
      b.finished_at ? [t("backfill_finished_at"), when(b.finished_at)] : null,
      b.error ? [t("conn_last_error"), errorView(b.error)] : null,
    ]),
  );
}

// ---------------------------------------------------------------- orders

function statusBadge(c) {
  if (!c) return h("span", { class: "muted" }, "—");
  const tone = c.code === "unknown" ? "warn" : c.terminal ? "muted" : c.action_required ? "warn" : "info";
  return badge(c.label, tone, "status-label");
}

function statusCell(c, v) {
  return h(
    "div",
    { class: "status-cell" },
    statusBadge(c),
    c?.detail_label ? h("p", { class: "small" }, c.detail_label) : null,
    c?.action_required ? h("p", { class: "small" }, labelOf(v?.actions, c.action_required)) : null,
    c?.provisional ? h("p", { class: "small muted" }, t("order_provisional")) : null,
  );
}

function nativeView(native) {
  const label = native.label ? ` · ${native.label}` : "";
  return h("span", null, h("span", { class: "mono" }, native.code), label);
}

async function pageOrders(root, params) {
  root.append(pageHead("nav_orders", "orders_lead"));
  const box = msgBox("os-msg");
  let plats;
  let v;
  try {
    [plats, v] = await Promise.all([platforms(), vocab()]);
  } catch (err) {
    root.append(box);
    showError(box, err);
    return;
  }
  const platformChoices = plats.map((p) => [p.platform, p.name]);
  const asked = params.get("platform");
  const initialPlatform = plats.some((p) => p.platform === asked) ? asked : "cscart";
  const platform = selectOf("os-platform", platformChoices, initialPlatform);
  const orderId = h("input", {
    id: "os-order",
    type: "search",
    value: params.get("order_id") || "",
    autocomplete: "off",
    "aria-required": "true",
  });
  const find = h("button", { type: "submit", class: "btn btn-primary", id: "os-find" }, t("order_find"));
  const view = h("div", { id: "order-view", "aria-live": "polite" });
  const fields = { platform, order_id: orderId };
  const search = h(
    "form",
    { id: "order-search", method: "post", novalidate: true, class: "row filters-row" },
    field("os-platform", t("dl_platform"), platform),
    field("os-order", t("order_id"), orderId),
    h("div", { class: "actions" }, find),
  );
  const open = (p, id) => {
    platform.value = p;
    orderId.value = id;
    setHash("orders", { platform: p, order_id: id });
    return run(find, box, () => showOrder(p, id), fields);
  };
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = orderId.value.trim();
    if (!id) {
      say(box, t("order_id_missing"), "bad");
      orderId.focus();
      return;
    }
    open(platform.value, id);
  });

  async function showOrder(p, id) {
    put(view, loading());
    const [o, deliveries] = await Promise.all([
      api(`v1/orders/${enc(p)}/${enc(id)}`, { query: { lang: state.lang } }),
      api(`v1/orders/${enc(p)}/${enc(id)}/deliveries`, { query: { limit: PAGE_SIZE } }),
    ]).catch((err) => {
      view.replaceChildren();
      throw err;
    });
    const timeline = h("tbody");
    for (const e of o.timeline) {
      const notes = [];
      if (e.applied) notes.push(badge(t("tl_applied"), "ok"));
      if (e.late) notes.push(badge(t("tl_late"), "warn"));
      if (e.regression) notes.push(badge(t("tl_regression"), "warn"));
      if (e.violation) {
        notes.push(badge(t("tl_violation"), "bad"), h("p", { class: "small error-text" }, e.violation));
      }
      if (e.time_source === "received") notes.push(h("p", { class: "small muted" }, t("tl_time_received")));
      if (e.superseded_by) {
        notes.push(h("p", { class: "small muted" }, t("tl_superseded", { n: e.superseded_by })));
      }
      timeline.append(
        h(
          "tr",
          { "data-testid": "timeline-row" },
          h("td", { class: "num" }, num(e.n)),
          h("td", { class: "nowrap" }, when(e.occurred_at)),
          h("td", { class: "nowrap" }, when(e.received_at)),
          h("td", null, nativeView(e.native)),
          h("td", null, statusCell(e.canonical, v)),
          h("td", null, notes.length ? notes : h("span", { class: "muted" }, "—")),
        ),
      );
    }
    const dBody = h("tbody");
    for (const d of deliveries.deliveries) dBody.append(deliveryRow(d, { showEndpoint: true }));
    if (!deliveries.deliveries.length) {
      dBody.append(h("tr", null, h("td", { colspan: "7", class: "empty" }, t("order_no_deliveries"))));
    }
    const c = o.current;
    put(view, 
      h(
        "article",
        { class: "card order", "data-testid": "order-view" },
        h("h2", null, t("order_ref", { platform: platformName(o.platform), order: o.order_id })),
        h(
          "div",
          { class: "current" },
          statusCell(c, v),
          c.stage_label
            ? h("p", { class: "small muted" }, t("pair", { label: t("order_stage"), value: c.stage_label }))
            : null,
          h("p", { class: "small" }, c.description),
        ),
        dl([
          [t("order_native"), nativeView(o.native)],
          [t("order_occurred"), when(o.occurred_at)],
          [t("order_updated"), when(o.updated_at)],
          [t("order_created"), when(o.created_at)],
          [t("order_changes"), num(o.sequence)],
          [t("order_violations"), num(o.violations)],
        ]),
        h("h3", null, t("order_timeline")),
        tableWrap(
          t("order_timeline"),
          table(
            headings("col_n", "col_occurred", "col_received", "col_native", "col_status", "col_notes"),
            timeline,
            { class: "grid", "data-testid": "timeline-table" },
          ),
        ),
        h("h3", null, t("order_deliveries")),
        tableWrap(
          t("order_deliveries"),
          table(deliveryHeadings({ showEndpoint: true }), dBody, {
            class: "grid",
            "data-testid": "order-deliveries",
          }),
        ),
      ),
    );
  }

  // the list
  const lPlatform = selectOf("ol-platform", [["", t("any")], ...platformChoices], "");
  const lStatus = selectOf("ol-status", [["", t("any")], ...v.codes.map((c) => [c.code, c.label])], "");
  const lStage = selectOf("ol-stage", [["", t("any")], ...v.stages.map((s) => [s.code, s.label])], "");
  const lAfter = h("input", { id: "ol-after", type: "datetime-local" });
  const lFields = { platform: lPlatform, status: lStatus, stage: lStage, updated_after: lAfter };
  const lApply = h("button", { type: "submit", class: "btn btn-primary", id: "ol-apply" }, t("show"));
  const lBox = msgBox("ol-msg");
  const lBody = h("tbody");
  const lCount = h("p", { class: "small muted", id: "ol-count" });
  let cursor = null;
  let count = 0;
  const lMore = button(t("more"), { id: "ol-more", hidden: true }, (e) =>
    run(e.currentTarget, lBox, () => list(false), lFields),
  );
  const lForm = h(
    "form",
    { id: "ol-filters", method: "post", novalidate: true, class: "row filters-row" },
    field("ol-platform", t("dl_platform"), lPlatform),
    field("ol-status", t("col_status"), lStatus),
    field("ol-stage", t("order_stage"), lStage),
    field("ol-after", t("ol_after"), lAfter),
    h("div", { class: "actions" }, lApply),
  );
  lForm.addEventListener("submit", (event) => {
    event.preventDefault();
    run(lApply, lBox, () => list(true), lFields);
  });

  async function list(reset) {
    const data = await api("v1/orders", {
      query: {
        platform: lPlatform.value,
        status: lStatus.value,
        stage: lStage.value,
        updated_after: isoFromLocal(lAfter.value),
        cursor: reset ? null : cursor,
        limit: PAGE_SIZE,
        lang: state.lang,
      },
    });
    if (reset) {
      lBody.replaceChildren();
      count = 0;
    }
    for (const o of data.orders) {
      lBody.append(
        h(
          "tr",
          { "data-testid": "order-row" },
          h("td", null, platformName(o.platform)),
          h(
            "td",
            null,
            button(o.order_id, { class: "btn-link mono", "data-testid": "order-open" }, () =>
              open(o.platform, o.order_id),
            ),
          ),
          h("td", null, statusCell(o.current, v)),
          h("td", null, o.current.stage_label || h("span", { class: "muted" }, "—")),
          h("td", { class: "nowrap" }, when(o.occurred_at)),
          h("td", { class: "nowrap" }, when(o.updated_at)),
        ),
      );
    }
    count += data.orders.length;
    if (!count) lBody.append(h("tr", null, h("td", { colspan: "6", class: "empty" }, t("ol_none"))));
    cursor = data.next_cursor;
    lMore.hidden = !cursor;
    lCount.textContent = t("shown_count", { count: num(count) });
  }

  root.append(
    section("os", t("order_search"), null, search, box, view),
    section(
      "ol",
      t("ol_title"),
      null,
      h("p", { class: "hint" }, t("ol_hint")),
      lForm,
      lBox,
      tableWrap(
        t("ol_title"),
        table(
          headings("col_platform", "order_id", "col_status", "order_stage", "col_occurred", "order_updated"),
          lBody,
          { class: "grid", "data-testid": "orders-table" },
        ),
      ),
      h("div", { class: "actions after-table" }, lMore, lCount),
    ),
  );
  const pending = [run(null, lBox, () => list(true), lFields)];
  if (params.get("order_id")) pending.push(open(initialPlatform, params.get("order_id")));
  await Promise.all(pending);
}

// ---------------------------------------------------------------- FBO shipments

const FLAG_KEYS = {
  oversized: "flag_oversized",
  fragile: "flag_fragile",
  special_assembly: "flag_special_assembly",
  special_packing: "flag_special_packing",
  delivery_by_kak2c: "flag_delivery_by_kak2c",
};

async function pageFbo(root) {
  const box = msgBox("fbo-msg");
  const list = h("div", { id: "fbo-list", class: "stack" }, loading());
  root.append(
    pageHead("nav_fbo", "fbo_lead"),
    h("div", { class: "toolbar" }, refreshButton("fbo-refresh", box, () => load())),
    box,
    list,
  );
  await run(null, box, load);

  async function load() {
    const { shipments } = await api("v1/fbo/shipments", { query: { lang: state.lang } });
    if (!shipments.length) {
      put(list, h("p", { class: "empty" }, t("fbo_none", { path: "POST /v1/fbo/shipments" })));
      return;
    }
    put(list, ...shipments.map(shipmentCard));
  }
}

function shipmentCard(shipment) {
  const card = h("article", {
    class: "card shipment",
    "data-testid": "shipment",
    "data-shipment-id": shipment.id,
  });
  const box = msgBox(null);
  const zone = { zone: shipment.timezone };

  const markDone = (btn, sh, st) =>
    run(btn, box, async () => {
      const path = `v1/fbo/shipments/${enc(sh.id)}/steps/${enc(st.step)}`;
      fill(await api(path, { method: "POST", body: {}, query: { lang: state.lang } }));
      say(box, t("fbo_marked", { step: st.label }));
    });

  const stepRow = (sh, st) => {
    const attrs = {
      class: "btn btn-small",
      "data-testid": "fbo-done",
      "aria-label": t("fbo_mark_done_label", { step: st.label }),
    };
    return h(
      "tr",
      { "data-testid": "fbo-step", "data-step": st.step, "data-status": st.status },
      h("td", { title: st.message }, st.label),
      h("td", null, st.actor_label),
      h("td", { class: "nowrap" }, when(st.deadline, zone)),
      h(
        "td",
        null,
        badge(st.status_label, STEP_TONE[st.status] || "muted", "fbo-step-status"),
        st.late ? [" ", badge(t("fbo_step_late"), "warn")] : null,
      ),
      h("td", { class: "nowrap" }, when(st.done_at, zone)),
      h(
        "td",
        null,
        st.status === "done" ? null : button(t("fbo_mark_done"), attrs, (e) => markDone(e.currentTarget, sh, st)),
      ),
    );
  };

  function fill(sh) {
    const missed = sh.steps.filter((st) => st.status === "missed").length;
    const risk = sh.steps.filter((st) => st.status === "at_risk").length;
    const late = sh.steps.some((st) => st.late);
    const flags = sh.flags.map((f) => (FLAG_KEYS[f] ? t(FLAG_KEYS[f]) : f)).join(", ") || "—";
    let inTime = "—";
    if (sh.created_in_time === true) inTime = t("yes");
    else if (sh.created_in_time === false) inTime = t("no");
    put(
      card,
      h(
        "div",
        { class: "card-head" },
        h("h2", { id: `${sh.id}-h` }, t("fbo_order", { order: sh.order_id })),
        h(
          "p",
          { class: "badges" },
          missed ? badge(t("fbo_missed_count", { count: num(missed) }), "bad", "fbo-missed") : null,
          risk ? badge(t("fbo_risk_count", { count: num(risk) }), "warn", "fbo-risk") : null,
          late ? badge(t("fbo_late"), "warn", "fbo-late") : null,
          missed || risk || late ? null : badge(t("fbo_on_track"), "ok"),
        ),
      ),
      dl([
        [t("fbo_shipment_date"), day(sh.shipment_date)],
        [t("fbo_earliest"), day(sh.earliest_shipment_date)],
        [t("fbo_units"), num(sh.units)],
        [t("fbo_flags"), flags],
        [t("fbo_mode"), sh.mode === "business" ? t("fbo_mode_business") : t("fbo_mode_calendar")],
        [t("fbo_timezone"), sh.timezone],
        [t("fbo_created_in_time"), inTime],
        [t("fbo_registered"), when(sh.registered_at)],
      ]),
      sh.warnings.length
        ? h(
            "ul",
            { class: "warnings", "aria-label": t("fbo_warnings") },
            sh.warnings.map((w) => h("li", { "data-testid": "fbo-warning", "data-code": w.code }, w.message)),
          )
        : null,
      tableWrap(
        t("fbo_steps"),
        table(
          [
            t("fbo_step"),
            t("fbo_actor"),
            t("fbo_deadline", { zone: sh.timezone }),
            t("col_state"),
            t("fbo_done_at"),
            t("col_actions"),
          ],
          h("tbody", null, sh.steps.map((st) => stepRow(sh, st))),
          { class: "grid" },
        ),
      ),
      box,
    );
  }

  fill(shipment);
  card.setAttribute("aria-labelledby", `${shipment.id}-h`);
  return card;
}

// ---------------------------------------------------------------- start

async function start() {
  state.key = store.get(KEY_STORE);
  let problem = null;
  for (const lang of [...new Set([initialLang(), "en"])]) {
    try {
      state.texts = await loadTexts(lang);
      state.lang = lang;
      problem = null;
      break;
    } catch (err) {
      problem = err; // without texts the keys show: still usable, and the cause is on screen
    }
  }
  renderShell();
  window.addEventListener("hashchange", () => route(true));
  route(false);
  if (problem) state.main.prepend(h("p", { class: "note note-bad" }, String(problem.message || problem)));
}

start();
