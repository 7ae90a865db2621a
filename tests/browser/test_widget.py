"""The `<order-status>` widget in real Chromium against a live gateway.

Test pages are served on the gateway's own origin by Playwright (`page.route` answers only the
page's HTML); the widget script and every API call go to the live gateway. One test, on purpose,
points the widget at a hostile stand-in on another origin to show that no answer becomes markup.
Pictures for the README come from `screenshot()` when GATEWAY_SCREENSHOTS=1.
"""

from __future__ import annotations

import gzip
import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from gateway.runtime import Runtime
from gateway.web.texts import localized
from tests.browser.conftest import screenshot
from tests.factories import Tenant

LANGS = ("ru", "en", "fr", "el")
# The served script (its texts in four languages included) stays under this many bytes: 14,829
# with the English placeholder texts (13,382 of code, 1,449 of texts), 5.4 KB gzipped.
WIDGET_BUDGET = 16 * 1024
WIDGET = "order-status"
DONE_GREEN = "rgb(26, 127, 55)"  # --order-status-done's light default


# ---- helpers ----


def api(live_url: str, path: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{live_url}{path}", params=params)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def canonical(live_url: str, platform: str, code: str, lang: str) -> dict[str, Any]:
    answer = api(live_url, f"/v1/translate/{platform}/{code}", lang=lang)
    status: dict[str, Any] = answer["canonical"]
    return status


def vocabulary(live_url: str, lang: str) -> dict[str, Any]:
    return api(live_url, "/v1/statuses", lang=lang)


def texts(runtime: Runtime, lang: str) -> dict[str, str]:
    """The widget's own words in `lang`, as the server bakes them into widget.js."""
    return localized(runtime.catalogs, "widget", lang)


def open_page(page: Page, live_url: str, body: str, *, lang: str | None = "en") -> None:
    """Show `body` in a page on the gateway's origin that loads the live /widget.js."""
    lang_attr = f' lang="{lang}"' if lang else ""
    document = (
        f'<!doctype html><html{lang_attr}><head><meta charset="utf-8"><title>widget test</title>'
        f'<link rel="icon" href="data:,"><script src="/widget.js" defer></script></head>'
        f"<body>{body}</body></html>"
    )
    url = f"{live_url}/test-page"
    page.route(url, lambda route: route.fulfill(body=document, content_type="text/html"))
    page.goto(url)


def card(page: Page, selector: str = WIDGET) -> Locator:
    """The widget's inner card (Playwright's CSS locators pierce open shadow roots)."""
    return page.locator(f"{selector} .card")


def settled(page: Page, selector: str = WIDGET) -> Locator:
    """The card once it shows an answer (not the loading state)."""
    found = card(page, selector)
    expect(found).to_have_attribute("data-state", re.compile(r"^(active|final|problem|stopped)$"))
    expect(found).to_have_attribute("aria-busy", "false")
    return found


def post_event(live_url: str, shop: Tenant, order_id: str, status: str, at: str) -> None:
    body = {"platform": "cscart", "order_id": order_id, "status": status, "occurred_at": at}
    response = httpx.post(f"{live_url}/v1/events", json=body, headers=shop.headers)
    assert response.status_code == 202, response.text


def share(live_url: str, shop: Tenant, order_id: str) -> str:
    response = httpx.post(f"{live_url}/v1/orders/cscart/{order_id}/share", headers=shop.headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def requests_to(page: Page, part: str) -> list[str]:
    """A live list of the page's request URLs that contain `part`."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if part in request.url else None)
    return seen


@pytest.fixture
def order_token(live_url: str, shop: Tenant) -> str:
    """A shared CS-Cart order that went from open to processed."""
    post_event(live_url, shop, "1001", "O", "2026-11-23T10:00:00+03:00")
    post_event(live_url, shop, "1001", "P", "2026-11-23T12:30:00+03:00")
    return share(live_url, shop, "1001")


# ---- language ----


@pytest.mark.parametrize("lang", LANGS)
def test_renders_each_language(
    page: Page, live_url: str, runtime: Runtime, order_token: str, lang: str
) -> None:
    """Labels, descriptions, stage names and the widget's own words come in the asked language;
    the same texts the API gives for it."""
    page.emulate_media(reduced_motion="reduce")  # a still picture, not mid-fade
    page.set_viewport_size({"width": 860, "height": 600})
    open_page(
        page,
        live_url,
        '<main style="display:grid;grid-template-columns:repeat(2,380px);gap:24px;'
        'padding:24px;align-items:start;font-family:sans-serif">'
        f'<order-status id="live" token="{order_token}" lang="{lang}"></order-status>'
        f'<div style="display:grid;gap:24px"><order-status id="pay" platform="kak2c" '
        f'code="ORDER_INFO_REQUIRE_PAYMENT" lang="{lang}"></order-status>'
        f'<order-status id="done" platform="cscart" code="C" lang="{lang}"></order-status></div>'
        "</main>",
        lang=None,
    )
    words = vocabulary(live_url, lang)
    stages = {s["code"]: s["label"] for s in words["stages"]}
    ours = texts(runtime, lang)
    for selector, platform, code in (
        ("#pay", "kak2c", "ORDER_INFO_REQUIRE_PAYMENT"),
        ("#done", "cscart", "C"),
    ):
        expected = canonical(live_url, platform, code, lang)
        shown = settled(page, selector)
        expect(shown).to_have_attribute("lang", lang)
        expect(shown.locator(".label")).to_have_text(expected["label"])
        expect(shown.locator(".description")).to_have_text(expected["description"])
        progress = shown.locator("ol.progress")
        expect(progress).to_have_attribute("aria-label", ours["progress"])
        names = [stages[s] for s in ("approval", "fulfillment", "delivery")]
        expect(progress.locator("li > span:not(.dot):not(.vh)")).to_have_text(names)

    live = settled(page, "#live")
    expect(live.locator(".label")).to_have_text(canonical(live_url, "cscart", "P", lang)["label"])
    expect(live.locator(".history")).to_have_text(ours["timeline"])
    screenshot(page, f"widget-{lang}")


def test_known_labels(page: Page, live_url: str) -> None:
    """Literal texts, so a catalogue that silently falls back to English is caught."""
    open_page(
        page,
        live_url,
        "".join(
            f'<order-status id="{lang}" platform="cscart" code="P" lang="{lang}"></order-status>'
            for lang in ("en", "fr")
        ),
    )
    expect(settled(page, "#en").locator(".label")).to_have_text("Confirmed")
    expect(settled(page, "#fr").locator(".label")).to_have_text("Confirmée")
    expect(settled(page, "#fr").locator(".progress li").first).to_contain_text("Validation")


def test_language_from_the_page(page: Page, live_url: str) -> None:
    """No `lang` attribute: the closest ancestor's `lang`, else the document's; primary subtag
    only ("fr-CA" is fr); an unsupported one is skipped."""
    open_page(
        page,
        live_url,
        '<order-status id="doc" platform="cscart" code="P"></order-status>'
        '<div lang="fr-CA"><p><order-status id="up" platform="cscart" code="P"></order-status>'
        '</p></div><order-status id="own" platform="cscart" code="P" lang="ru-RU"></order-status>'
        '<div lang="de"><order-status id="skip" platform="cscart" code="P"></order-status></div>',
        lang="el-GR",
    )
    for selector, lang in (("#doc", "el"), ("#up", "fr"), ("#own", "ru"), ("#skip", "el")):
        shown = settled(page, selector)
        expect(shown).to_have_attribute("lang", lang)
        expect(shown.locator(".label")).to_have_text(
            canonical(live_url, "cscart", "P", lang)["label"]
        )


@pytest.fixture
def browser_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab whose browser languages are the test's parameter (page errors fail the test)."""
    locale: str = request.param
    context = browser.new_context(locale=locale)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors


@pytest.mark.parametrize(
    ("browser_page", "page_lang", "expected"),
    [("ru-RU", None, "ru"), ("el-GR", "de", "el"), ("de-DE", "de", "en"), ("fr-CA", None, "fr")],
    indirect=["browser_page"],
)
def test_language_from_the_browser(
    browser_page: Page, live_url: str, page_lang: str | None, expected: str
) -> None:
    """Without a supported language on the element or the page, navigator.languages; else en."""
    page = browser_page
    open_page(page, live_url, f'<{WIDGET} platform="cscart" code="P"></{WIDGET}>', lang=page_lang)
    shown = settled(page)
    expect(shown).to_have_attribute("lang", expected)
    label = canonical(live_url, "cscart", "P", expected)["label"]
    expect(shown.locator(".label")).to_have_text(label)


def test_attribute_changes_render_again(page: Page, live_url: str) -> None:
    open_page(page, live_url, f'<{WIDGET} platform="cscart" code="P" lang="en"></{WIDGET}>')
    label = settled(page).locator(".label")
    expect(label).to_have_text(canonical(live_url, "cscart", "P", "en")["label"])
    page.eval_on_selector(WIDGET, "el => el.setAttribute('lang', 'el')")
    expect(label).to_have_text(canonical(live_url, "cscart", "P", "el")["label"])
    page.eval_on_selector(
        WIDGET,
        "el => { el.setAttribute('platform', 'kak2c');"
        " el.setAttribute('code', 'ORDER_INFO_COURIER') }",
    )
    expected = canonical(live_url, "kak2c", "ORDER_INFO_COURIER", "el")["label"]
    expect(label).to_have_text(expected)
    page.eval_on_selector(
        WIDGET,
        "el => { el.setAttribute('platform', 'cloudcart'); el.setAttribute('code', 'paid');"
        " el.setAttribute('payment', 'completed'); el.setAttribute('fulfillment', 'shipped') }",
    )
    cloudcart = api(
        live_url,
        "/v1/translate/cloudcart/paid",
        lang="el",
        payment="completed",
        fulfillment="shipped",
    )["canonical"]
    expect(label).to_have_text(cloudcart["label"])


# ---- the progress line, problems, actions ----

STAGE_CASES = [
    ("cscart", "O", 0),  # approval
    ("kak2c", "ORDER_INFO_IN_PACKING", 1),  # fulfilment
    ("measoft", "DELIVERY", 2),  # delivery
    ("kak2c", "ORDER_INFO_RETURNING", 3),  # returns: the fourth step appears
]


@pytest.mark.parametrize(("platform", "code", "at"), STAGE_CASES)
def test_progress_marks_the_stage(
    page: Page, live_url: str, runtime: Runtime, platform: str, code: str, at: int
) -> None:
    open_page(page, live_url, f'<{WIDGET} platform="{platform}" code="{code}"></{WIDGET}>')
    ours = texts(runtime, "en")
    steps = settled(page).locator("ol.progress > li")
    expect(steps).to_have_count(4 if at == 3 else 3)
    for i in range(steps.count()):
        step = steps.nth(i)
        hidden = step.locator(".vh")
        if i < at:
            expect(step).to_have_class("done")
            expect(hidden).to_have_text(f", {ours['done_step']}")
            expect(step).not_to_have_attribute("aria-current", "step")
        elif i == at:
            expect(step).to_have_class("current")
            expect(step).to_have_attribute("aria-current", "step")
            expect(hidden).to_have_text(f", {ours['current_step']}")
        else:
            expect(step).to_have_class("todo")
            expect(hidden).to_have_count(0)
        # the line into a step is green once the order got there, grey before
        line = step.evaluate("el => getComputedStyle(el, '::before').backgroundColor")
        if i:
            assert (line == DONE_GREEN) == (i <= at), (i, line)
    assert page.locator(f'{WIDGET} [aria-current="step"]').count() == 1


@pytest.mark.parametrize(
    ("platform", "code", "state", "icon", "badge"),
    [
        ("cscart", "F", "problem", "!", "problem"),  # payment_failed
        ("measoft", "COURIERCANCELED", "problem", "!", "problem"),  # delivery_failed
        ("cscart", "Y", "problem", "!", "problem"),  # on_hold, the shop has to act
        ("cscart", "I", "stopped", "✕", "final"),  # canceled: terminal and a problem
        ("kak2c", "ORDER_INFO_LOST", "stopped", "✕", "final"),
        ("kak2c", "ORDER_INFO_DELIVERED", "final", "✓", "final"),
        ("cscart", "P", "active", "", None),
    ],
)
def test_problem_and_final_states_are_said_in_words(
    page: Page,
    live_url: str,
    runtime: Runtime,
    platform: str,
    code: str,
    state: str,
    icon: str,
    badge: str | None,
) -> None:
    """Not by colour alone: a badge in words, an icon, and the mark on the current step."""
    open_page(page, live_url, f'<{WIDGET} platform="{platform}" code="{code}"></{WIDGET}>')
    shown = settled(page)
    expect(shown).to_have_attribute("data-state", state)
    expect(shown.locator(".header .icon")).to_have_text(icon)
    expect(shown.locator(".header .icon")).to_have_attribute("aria-hidden", "true")
    if badge is None:
        expect(shown.locator(".badge")).to_have_count(0)
    else:
        expect(shown.locator(".badge")).to_have_text(texts(runtime, "en")[badge])
        expect(shown.locator(".current .dot")).to_have_text(icon)


@pytest.mark.parametrize(
    ("platform", "code"), [("kak2c", "ORDER_INFO_REQUIRE_PAYMENT"), ("measoft", "COURIERRETURN")]
)
def test_action_required_is_a_call_to_action(
    page: Page, live_url: str, runtime: Runtime, platform: str, code: str
) -> None:
    status = canonical(live_url, platform, code, "fr")
    assert status["action_required"] is not None
    [action] = [
        a for a in vocabulary(live_url, "fr")["actions"] if a["code"] == status["action_required"]
    ]
    open_page(
        page,
        live_url,
        f'<{WIDGET} id="bare" platform="{platform}" code="{code}" lang="fr"></{WIDGET}>'
        f'<{WIDGET} id="button" platform="{platform}" code="{code}" lang="fr">'
        '<a slot="action" href="#pay">Pay now</a></order-status>',
    )
    cta = settled(page, "#bare").locator(".action")
    expect(cta.locator("p")).to_have_text(
        [texts(runtime, "fr")["action_required"], action["label"], action["description"]]
    )
    expect(settled(page, "#bare")).to_have_attribute("data-state", "problem")
    # nothing in the widget takes focus unless the page puts an action in it
    focusable = "el => el.shadowRoot.querySelectorAll('a,button,input,select,[tabindex]').length"
    assert page.eval_on_selector("#bare", focusable) == 0
    settled(page, "#button")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Pay now"
    assert page.evaluate("document.activeElement.assignedSlot.name") == "action"


# ---- isolation and safety ----


def test_page_styles_do_not_leak_in_and_custom_properties_theme_it(
    page: Page, live_url: str
) -> None:
    open_page(
        page,
        live_url,
        "<style>p, li, span { color: rgb(255, 0, 0) !important; font-size: 40px !important }"
        " .label { font-weight: 100 } body { text-transform: uppercase; color: rgb(0, 128, 0) }"
        " #themed { --order-status-accent: rgb(1, 2, 3); --order-status-radius: 3px }"
        " #themed::part(label) { text-decoration: underline }</style>"
        f'<p class="label" id="outside">Page text</p>'
        f'<{WIDGET} id="plain" platform="cscart" code="P"></{WIDGET}>'
        f'<{WIDGET} id="themed" platform="cscart" code="P"></{WIDGET}>',
    )
    style = "(el, prop) => getComputedStyle(el)[prop]"
    label = settled(page, "#plain").locator(".label")
    assert label.evaluate(style, "color") == "rgb(31, 35, 40)"  # the widget's own default
    assert label.evaluate(style, "textTransform") == "none"
    assert label.evaluate(style, "fontSize") == "18px"
    # and the widget's styles stay inside: the page's own .label is untouched
    outside = page.locator("#outside")
    assert outside.evaluate(style, "fontWeight") == "100"
    assert outside.evaluate(style, "color") == "rgb(255, 0, 0)"

    themed = settled(page, "#themed")
    assert themed.locator(".current .dot").evaluate(style, "borderTopColor") == "rgb(1, 2, 3)"
    assert themed.evaluate(style, "borderTopLeftRadius") == "3px"
    assert themed.locator(".label").evaluate(style, "textDecorationLine") == "underline"
    plain_dot = settled(page, "#plain").locator(".current .dot")
    assert plain_dot.evaluate(style, "borderTopColor") == "rgb(11, 98, 214)"


def test_dark_scheme_reduced_motion_and_forced_colours(page: Page, live_url: str) -> None:
    page.emulate_media(color_scheme="dark", reduced_motion="reduce", forced_colors="none")
    open_page(page, live_url, f'<{WIDGET} platform="kak2c" code="ORDER_INFO_COURIER"></{WIDGET}>')
    shown = settled(page)
    style = "(el, prop) => getComputedStyle(el)[prop]"
    assert shown.evaluate(style, "backgroundColor") == "rgb(22, 27, 34)"
    assert shown.evaluate(style, "color") == "rgb(230, 237, 243)"
    assert shown.locator(".header").evaluate(style, "animationName") == "none"
    page.emulate_media(color_scheme="light", reduced_motion="no-preference")
    assert shown.evaluate(style, "backgroundColor") == "rgb(255, 255, 255)"
    assert shown.locator(".header").evaluate(style, "animationName") == "in"
    page.emulate_media(forced_colors="active")
    assert shown.locator(".current .dot").evaluate(style, "outlineStyle") == "solid"


def test_a_hostile_tenant_label_never_becomes_markup(
    page: Page, live_url: str, shop: Tenant
) -> None:
    """A tenant's own code labelled with markup, shown through a share token: the public view
    speaks only the catalogue's canonical words, and nothing runs or becomes an element."""
    hostile = '<img src=x onerror="window.pwned=1">'
    mapping = {
        "canonical": "on_hold",
        "action_required": "merchant",
        "labels": dict.fromkeys(LANGS, hostile),
        "descriptions": dict.fromkeys(LANGS, hostile),
    }
    response = httpx.put(f"{live_url}/v1/mappings/cscart/EVIL", json=mapping, headers=shop.headers)
    assert response.status_code in (200, 201), response.text
    post_event(live_url, shop, "666", "EVIL", "2026-11-23T10:00:00+03:00")
    token = share(live_url, shop, "666")
    open_page(page, live_url, f'<{WIDGET} token="{token}" refresh="0"></{WIDGET}>')
    shown = settled(page)
    expect(shown.locator(".label")).to_have_text(canonical(live_url, "cscart", "Y", "en")["label"])
    expect(shown.locator(".action")).to_be_visible()  # the mapping's action_required
    assert page.evaluate("window.pwned") is None
    assert page.eval_on_selector(WIDGET, "el => el.shadowRoot.querySelectorAll('img').length") == 0
    assert page.locator("img").count() == 0


def test_a_hostile_answer_shows_as_text(page: Page, live_url: str) -> None:
    """Defence in depth: even a gateway answering markup in every text (a stand-in on another
    origin, chosen with `api`) only ever gets text nodes."""
    hostile = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    status = {
        "code": "on_hold",
        "stage": "approval",
        "terminal": False,
        "action_required": "customer",
        "label": hostile,
        "description": hostile,
        "detail_label": hostile,
    }
    answers = {
        "/v1/translate/cscart/P": {"canonical": status},
        "/v1/statuses": {
            "stages": [{"code": "approval", "label": hostile}],
            "actions": [{"code": "customer", "label": hostile, "description": hostile}],
        },
    }

    def answer(route: Route) -> None:
        path = httpx.URL(route.request.url).path
        route.fulfill(json=answers[path], headers={"Access-Control-Allow-Origin": "*"}, status=200)

    page.route("http://hostile.invalid/**", answer)
    open_page(
        page,
        live_url,
        f'<{WIDGET} api="http://hostile.invalid" platform="cscart" code="P"></{WIDGET}>',
    )
    shown = settled(page)
    expect(shown.locator(".label")).to_have_text(hostile)
    expect(shown.locator(".action p").nth(1)).to_have_text(hostile)
    assert (
        page.eval_on_selector(WIDGET, "el => el.shadowRoot.querySelectorAll('img,b').length") == 0
    )
    assert page.evaluate("window.pwned") is None


# ---- token mode ----


def test_token_timeline_refreshes_without_a_reload(
    page: Page, live_url: str, shop: Tenant, order_token: str
) -> None:
    open_page(
        page,
        live_url,
        f'<{WIDGET} token="{order_token}" refresh="1"></{WIDGET}>',
    )
    page.evaluate(
        "window.loads = 0; document.addEventListener('order-status:load', e => "
        "{ window.loads++; window.last = e.detail })"
    )
    shown = settled(page)
    expect(shown).to_have_attribute("role", "status")
    expect(shown).to_have_attribute("aria-live", "polite")
    expect(shown.locator(".label")).to_have_text(canonical(live_url, "cscart", "P", "en")["label"])
    events = shown.locator("ol.timeline > li")
    expect(events).to_have_count(2)
    # newest first, each with a machine-readable date and a localized one
    expect(events.first.locator("p")).to_have_text(
        canonical(live_url, "cscart", "P", "en")["label"]
    )
    expect(events.first.locator("time")).to_have_attribute("datetime", "2026-11-23T09:30:00Z")
    expected = page.evaluate(
        "new Intl.DateTimeFormat('en', {dateStyle: 'medium', timeStyle: 'short'})"
        ".format(new Date('2026-11-23T09:30:00Z'))"
    )
    expect(events.first.locator("time")).to_have_text(expected)

    page.evaluate("window.marker = 'same page'; window.loads = 0")
    polls = requests_to(page, "/v1/public/orders/")
    page.wait_for_timeout(2500)
    assert len(polls) >= 2  # it polls every second ...
    assert page.evaluate("window.loads") == 0  # ... and renders again only on a change

    post_event(live_url, shop, "1001", "C", "2026-11-24T09:00:00+03:00")
    completed = canonical(live_url, "cscart", "C", "en")["label"]
    expect(shown.locator(".label")).to_have_text(completed, timeout=5000)
    expect(events).to_have_count(3)
    expect(events.first.locator("p")).to_have_text(completed)
    expect(shown).to_have_attribute("data-state", "final")
    assert page.evaluate("window.marker") == "same page"
    assert page.evaluate("window.loads") == 1
    assert page.evaluate("window.last.current.code") == "completed"

    # once removed from the page it stops asking
    page.eval_on_selector(WIDGET, "el => el.remove()")
    page.wait_for_timeout(300)
    before = len(polls)
    page.wait_for_timeout(2200)
    assert len(polls) == before


def test_unknown_token_shows_not_found(page: Page, live_url: str, runtime: Runtime) -> None:
    open_page(
        page,
        live_url,
        "<script>window.errors = []; document.addEventListener('order-status:error',"
        " e => errors.push([e.target.id, e.detail.status]))</script>"
        f'<{WIDGET} id="gone" token="gws_not-a-token" lang="fr"></{WIDGET}>'
        f'<{WIDGET} id="bad" platform="cscart" code="NOPE"></{WIDGET}>',
    )
    page.wait_for_function("window.errors.length === 2")
    assert sorted(page.evaluate("window.errors")) == [["bad", 422], ["gone", 404]]
    shown = card(page, "#gone")
    expect(shown).to_have_attribute("data-state", "error")
    expect(shown.locator(".message")).to_have_text(texts(runtime, "fr")["not_found"])
    bad = card(page, "#bad")
    expect(bad).to_have_attribute("data-state", "error")
    expect(bad.locator(".message")).to_have_text(texts(runtime, "en")["unavailable"])
    expect(shown).to_have_attribute("aria-busy", "false")


# ---- the demo page, sharing, loading ----


def test_demo_page_renders_every_widget(page: Page, live_url: str) -> None:
    csp: list[str] = []
    page.on(
        "console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None
    )
    vocab = requests_to(page, "/v1/statuses")
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{live_url}/demo")
    widgets = page.locator(WIDGET)
    count = widgets.count()
    assert count >= 4 * 4 * 4  # every platform, several codes, four languages
    page.wait_for_function(
        "() => [...document.querySelectorAll('order-status')].every(el => "
        "el.shadowRoot.querySelector('.card[aria-busy=false]'))"
    )
    states = page.eval_on_selector_all(
        WIDGET, "els => els.map(el => el.shadowRoot.querySelector('.card').dataset.state)"
    )
    assert set(states) <= {"active", "final", "problem", "stopped"}, states
    labels = page.eval_on_selector_all(
        WIDGET, "els => els.map(el => el.shadowRoot.querySelector('.label').textContent)"
    )
    assert all(labels), labels
    platforms = set(
        page.eval_on_selector_all(WIDGET, "els => els.map(e => e.getAttribute('platform'))")
    )
    assert platforms == {"kak2c", "measoft", "cscart", "cloudcart"}
    assert sorted(re.sub(r".*lang=", "", u) for u in vocab) == sorted(LANGS)  # once per language
    assert not csp
    screenshot(page, "demo")


def test_one_fetch_per_url_and_loading_twice_is_harmless(page: Page, live_url: str) -> None:
    translate = requests_to(page, "/v1/translate/")
    vocab = requests_to(page, "/v1/statuses")
    open_page(
        page,
        live_url,
        '<script src="/widget.js?again" defer></script>'
        + f'<{WIDGET} platform="cscart" code="P"></{WIDGET}>' * 6
        + f'<{WIDGET} platform="cscart" code="C"></{WIDGET}>',
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('order-status')].every(el => "
        "el.shadowRoot.querySelector('.label'))"
    )
    assert len(translate) == 2
    assert len(vocab) == 1
    assert page.evaluate("Object.keys(window).filter(k => /order|STRINGS/i.test(k))") == []


# ---- the served script ----


def test_widget_script_size_and_caching(live_url: str) -> None:
    response = httpx.get(f"{live_url}/widget.js")
    assert response.status_code == 200
    body = response.content
    assert len(body) < WIDGET_BUDGET, f"widget.js is {len(body)} bytes"
    assert len(gzip.compress(body)) < 6 * 1024
    source = body.decode()
    assert source.count("/*STRINGS*/") == 1
    assert all(f'"{lang}":{{' in source for lang in LANGS)
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = httpx.get(f"{live_url}/widget.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    for forbidden in ("innerHTML", "insertAdjacentHTML", "outerHTML", "eval(", "console."):
        assert forbidden not in source


def test_demo_page_is_static_and_escaped(live_url: str) -> None:
    response = httpx.get(f"{live_url}/demo")
    assert response.status_code == 200
    page = response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/widget.js" defer>']
    assert "<style" not in page
    assert " style=" not in page
    assert html.escape('<order-status platform="cscart" code="P" lang="fr">', quote=False) in page
