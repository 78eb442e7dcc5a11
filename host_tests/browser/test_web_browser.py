"""A real headless Chromium walks the web interface of the firmware running in the VM on
the virtual board.

- The first setup: login with the serial number, the forced password change, the
  wizard, a changed charging limit that the status page then shows while a car charges,
  a refused value with its reason next to the field, log off.
- Every page at a phone's (390x844) and a desktop's (1366x900) size, on one board shared
  by these tests: axe-core finds no serious or critical violation, nothing scrolls
  sideways; the keyboard reaches every control; the status page names showroom mode.

Screenshots of every page at both sizes go to docs/web/ (shown in docs/web.md) with
WEB_SCREENSHOTS=1, and in the full tier (WALLBOX_FULL=1) to host_tests/artifacts/pages/
(git-ignored); pngquant, where installed, makes them small. The first-setup walk's go to
host_tests/artifacts/.

Needs Debian's chromium (.ci/run installs it), the playwright package and axe-core
(package.json; `npm ci`, which tools/dev.py setup and .ci/run run); without them the test
is skipped, unless REQUIRE_BROWSER is set (CI sets it)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
sys.path.insert(0, os.path.join(TESTS, "vm"))
sys.path.insert(0, os.path.join(TESTS, "core"))
sys.path.insert(0, TESTS)
from tier import FULL  # noqa: E402
from vmrun import free_port  # noqa: E402
from webclient import HEAP, PASSWORD, PROV, SERIAL, Client, charging, wait_web  # noqa: E402

ARTIFACTS = os.path.join(TESTS, "artifacts")
# the pictures in docs/web.md when asked for; the full tier makes them too, beside the others
SHOTS = os.path.join(ROOT, "docs", "web") if os.getenv("WEB_SCREENSHOTS") else \
    os.path.join(ARTIFACTS, "pages")
AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
CHROMIUM = next((p for p in (os.getenv("CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and os.path.exists(p)), None)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SHOOT = FULL or bool(os.getenv("WEB_SCREENSHOTS"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
# Every page: (name, #fragment, the heading it shows, a selector that is there once loaded)
PAGES = [
    ("status", "#status", "Status", "#limit-by"),
    ("system", "#system", "System", "#log"),
    ("config-network", "#config/network", "Configuration", "#sec-hotspot"),
    ("config-auth", "#config/auth", "Configuration", "#cards"),
    ("config-meters", "#config/meters", "Configuration", "#sec-meter"),
    ("config-solar", "#config/solar", "Configuration", "#sec-solar"),
    ("config-backend", "#config/backend", "Configuration", "#sec-mqtt"),
    ("config-system", "#config/system", "Configuration", "#export"),
    ("wizard", "#wizard", "Configuration Wizard", "form.cfg"),
    ("help", "#help", "Help", ".help table"),
    ("licence", "#licence", "Licence information", "pre"),
    ("user", "#user", "User", "#recovery-shown"),
]


def _browser_or_skip(axe=False):
    why = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        why = "the playwright package is not installed (requirements-dev.txt)"
    if CHROMIUM is None:
        why = "no Chromium found (apt-get install chromium)"
    if axe and not os.path.exists(AXE):
        why = "axe-core is not installed (npm ci, from package.json)"
    if why:
        if os.getenv("REQUIRE_BROWSER"):
            pytest.fail(why + ", and REQUIRE_BROWSER is set")
        pytest.skip(why)


def _board(tmp, config):
    from buildcache import cached_build  # built once per source version, shared
    from tools.vboard.world import World
    out = cached_build()
    state = tmp / "flash"
    state.mkdir()
    (state / "config.json").write_text(json.dumps(config))
    (state / "prov.json").write_text(PROV)
    w = World(str(state), heap=HEAP, code_root=out, web_port=0)
    w.start()
    wait_web(w)
    return w


def _chromium(p, profile, viewport):
    # a fresh profile (playwright passes it as --user-data-dir)
    b = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                             viewport=viewport, args=ARGS)
    page = b.pages[0] if b.pages else b.new_page()
    page.set_default_timeout(20000)
    return b, page


def test_first_setup_change_a_limit_and_see_it_on_the_status_page(tmp_path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    sys.path.insert(0, ROOT)
    w = _board(tmp_path, {"charging.selftest_s": 1})
    os.makedirs(ARTIFACTS, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        w.set(plugged=True)
        with sync_playwright() as p:
            b, page = _chromium(p, profile, PHONE)

            def shot(name):
                page.screenshot(path=os.path.join(ARTIFACTS, "web-%s.png" % name), full_page=True)

            page.goto(w.web_url + "/")
            expect(page.locator("h1")).to_have_text("Log in")
            shot("1-login")
            page.fill("#password", SERIAL)
            page.click("#login")
            expect(page.locator("h1")).to_have_text("Set a new password")
            shot("2-new-password")
            page.fill("#new", PASSWORD)
            page.fill("#new2", PASSWORD)
            page.click("#setpw")
            expect(page.locator("h1")).to_have_text("Configuration Wizard")
            shot("3-wizard")
            for _ in range(2):  # network, authorization & time: keep as they are
                page.click("text=Save and continue")
            # charging limits: 10 A
            page.fill("#f-charging-max-current-a", "10")
            page.click("text=Save and continue")
            shot("4-wizard-meter")
            page.click("text=Save and finish")
            expect(page.locator("text=Done.")).to_be_visible()
            page.click("text=Go to the status")
            expect(page.locator("#st")).to_have_text("Charging", timeout=30000)
            expect(page.locator("#limit")).to_have_text("10 A")
            expect(page.locator("#limit-by")).to_have_text("set by the configured maximum")
            # the duty changes at most once per 5 s (standards.md): the car may have
            # started at 32 A just before the new limit arrived
            expect(page.locator("#offered")).to_have_text("10 A", timeout=15000)
            # the session's current field starts at what is offered, not above the limit
            expect(page.locator("#app-current")).to_have_value("10")
            shot("5-status")
            assert charging(w) and w.state()["firmware"]["offered_a"] == 10.0
            # a bad value is refused with its reason next to the field; until saved, the
            # page says that changes are unsaved
            page.goto(w.web_url + "/#config/meters")
            unsaved = page.locator("text=Unsaved changes")
            page.fill("#f-charging-max-current-a", "99")
            expect(unsaved).to_be_visible()
            page.click("form.cfg button[type=submit]")
            expect(page.locator("[data-e='charging.max_current_a']")).to_contain_text(
                "between 6 and 80")
            expect(unsaved).to_be_visible()
            shot("6-config-error")
            # leaving with unsaved changes asks first; refused, the page stays
            page.once("dialog", lambda d: d.dismiss())
            page.click("#menu")
            page.click("text=Log off")
            expect(page.locator("#f-charging-max-current-a")).to_have_value("99")
            assert page.url.endswith("#config/meters")
            page.once("dialog", lambda d: d.accept())
            page.click("#menu")
            page.click("text=Log off")
            expect(page.locator("h1")).to_have_text("Log in")
            shot("7-logged-off")
            # the session is gone: the API refuses the browser's old cookie
            assert page.evaluate("fetch('/api/v1/status').then(r => r.status)") == 401
            b.close()
    finally:
        w.stop()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """One board for the page tests: set up (password, wizard done), a car charging."""
    _browser_or_skip(axe=True)
    sys.path.insert(0, ROOT)
    # a solar meter (pymodbus, served by the virtual board) for Test Connection; in
    # immediate charging mode it sets no limit
    w = _board(tmp_path_factory.mktemp("pages"),
               {"charging.selftest_s": 1, "solar.enabled": True, "solar.model": "sdm630",
                "solar.host": "127.0.0.1", "solar.port": free_port()})
    try:
        c = Client(w).set_up()
        assert c.post("/api/wizard", {"done": True})[0] == 200
        w.set(plugged=True)
        w.wait_for(charging, 30)
        if SHOOT:  # a chart with some points in the pictures
            w.wait_for(lambda w: len(c.get("/api/v1/status")[1]["chart"]["a"]) >= 4, 90)
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def playwright_():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(board, playwright_):
    """One Chromium for the page tests, logged in to the shared board."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        b, page = _chromium(playwright_, profile, DESKTOP)
        page.goto(board.web_url + "/")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector("#limit-by")
        _inject_axe(page)  # the page is one document: injected once
        yield page
        b.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _inject_axe(page):
    """axe-core into the page through the debugging protocol: the page's CSP (no inline
    script) stays in force, as a user's browser has it."""
    if not page.evaluate("!!window.axe"):
        with open(AXE) as f:
            page.evaluate(f.read() + "\n;0")


def _open(page, fragment, heading, ready):
    from playwright.sync_api import expect
    page.evaluate("location.hash = %s" % json.dumps(fragment))
    expect(page.locator("h1")).to_have_text(heading)
    page.wait_for_selector(ready)
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")


def _violations(page):
    """axe-core's serious and critical findings on the page as it is now."""
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => v.id + " (" + v.impact + "): " + v.help + " at " +
                 v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
    }""")
    return found


def _sideways(page):
    return page.evaluate("[document.documentElement.scrollWidth,"
                         " document.documentElement.clientWidth]")


def _screenshot(page, name, size):
    if not SHOOT:
        return
    os.makedirs(SHOTS, exist_ok=True)
    path = os.path.join(SHOTS, "%s-%d.png" % (name, size["width"]))
    page.evaluate("window.scrollTo(0, 0)")
    # the Save bar sticks to the window's bottom: in a whole-page picture, at the form's end
    page.evaluate("document.querySelectorAll('.bar').forEach(b => b.style.position = 'static')")
    # the long static texts: their first screen shows how they look
    page.screenshot(path=path, full_page=name not in ("help", "licence"))
    if shutil.which("pngquant"):  # a palette of 64 colours: a page's flat colours fit
        subprocess.run(["pngquant", "--force", "--skip-if-larger", "--output", path, "64",
                        path], check=False)


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_page_is_accessible_and_fits_the_width(board, browser, size):
    page = browser
    page.set_viewport_size(size)
    problems = []
    for name, fragment, heading, ready in PAGES:
        _open(page, fragment, heading, ready)
        problems += ["%s: %s" % (name, v) for v in _violations(page)]
        scroll, client = _sideways(page)
        if scroll > client:
            problems.append("%s: scrolls sideways (%d px wide in %d)" % (name, scroll, client))
        _screenshot(page, name, size)
    assert not problems, "\n".join(problems)


def test_login_page_is_accessible_and_fits(board, playwright_):
    """The pages before a login (log in, forgot the password), in a browser of their own."""
    from playwright.sync_api import expect
    profile = tempfile.mkdtemp(prefix="chromium-")
    problems = []
    try:
        b, page = _chromium(playwright_, profile, PHONE)
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            for name, fragment, heading in (("login", "", "Log in"),
                                            ("recover", "#recover", "Forgot your password?")):
                page.goto(board.web_url + "/" + fragment)
                expect(page.locator("h1")).to_have_text(heading)
                _inject_axe(page)
                problems += ["%s: %s" % (name, v) for v in _violations(page)]
                scroll, client = _sideways(page)
                if scroll > client:
                    problems.append("%s: scrolls sideways" % name)
                _screenshot(page, name, size)
        b.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert not problems, "\n".join(problems)


FOCUSABLE = """() => [...document.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
  .filter(e => !e.disabled && e.offsetParent !== null)
  .map((e, i) => { e.dataset.kb = i; return e.dataset.kb; })"""


def test_keyboard_reaches_every_control(board, browser):
    """Tab, from the top of each page, reaches every link, button, field and Advanced."""
    page = browser
    page.set_viewport_size(DESKTOP)
    missed = []
    for name, fragment, heading, ready in PAGES:
        missed += ["%s: %s" % (name, m) for m in _tab_through(page, fragment, heading, ready)]
    assert not missed, "\n".join(missed)


def _tab_through(page, fragment, heading, ready):
    _open(page, fragment, heading, ready)
    wanted = set(page.evaluate(FOCUSABLE))
    assert len(wanted) > 5  # the menu's links at least
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = set()
    for _ in range(len(wanted) + 10):
        page.keyboard.press("Tab")
        k = page.evaluate("document.activeElement && document.activeElement.dataset.kb")
        if k is not None:
            reached.add(k)
    return page.evaluate("ks => ks.map(k => document.querySelector('[data-kb=\"' + k + '\"]'))"
                         ".map(e => e.outerHTML.slice(0, 80))", sorted(wanted - reached))


def test_status_names_the_modes_and_explains_a_fault(board, browser):
    """Showroom, commissioning and degraded mode by their names; a fault with the
    manual's meaning and what to do; then charging again."""
    from playwright.sync_api import expect
    page = browser
    c = Client(board)
    assert c.login()[0] == 200
    _open(page, "#status", "Status", "#limit-by")
    st, why = page.locator("#st"), page.locator("#st-why")
    expect(page.locator("#power")).not_to_have_text("0.0")  # the car charges
    for key, word, reason in (("device.showroom", "Showroom mode", "Charging is disabled"),
                              ("device.commissioning", "Commissioning mode", "installer")):
        assert c.post("/api/config", {key: True})[0] == 200
        try:
            expect(st).to_have_text(word, timeout=20000)
            expect(why).to_contain_text(reason)
            board.wait_for(lambda w: not w.relay_closed(), 20)
        finally:
            assert c.post("/api/config", {key: False})[0] == 200
        expect(st).to_have_text("Charging", timeout=30000)
    try:
        board.set(temp_c=68.0)  # thermal derating
        expect(st).to_have_text("Reduced power (degraded mode)", timeout=20000)
        expect(why).to_contain_text("by the wallbox's temperature")
        expect(page.locator("#limit-by")).to_have_text("set by the wallbox's temperature")
        board.set(temp_c=80.0)  # shut-off: fault 3
        expect(st).to_have_text("Fault", timeout=20000)
        expect(why).to_contain_text("Fault 3: Temperature shut-off")
        expect(why).to_contain_text("resumes by itself once it has cooled down")
    finally:
        board.set(temp_c=25.0)
    expect(st).to_have_text("Charging", timeout=30000)
    expect(page.locator("#fault")).to_contain_text("3: Temperature shut-off")


def test_test_connection_answers_in_words(board, browser):
    """The solar meter's Test Connection: its reading in words with units, or what to
    check; never raw register names."""
    from playwright.sync_api import expect
    page = browser
    _open(page, "#config/solar", "Configuration", "#sec-solar")
    note = page.locator("#sec-solar [role=status]")
    page.click("#sec-solar >> text=Test connection")
    # the firmware answers within 15 s (its own bound), a busy host's VM later
    expect(note).to_contain_text("Connected. Voltage: 230 V / 230 V / 230 V", timeout=45000)
    expect(note).to_contain_text("Power: ")
    expect(note).to_contain_text(" kW")
    assert "v1" not in note.inner_text() and "{" not in note.inner_text()
    board.set(solar_meter_mode="off")  # the meter's port closed
    try:
        page.click("#sec-solar >> text=Test connection")
        expect(note).to_contain_text("No connection to that IP address and port", timeout=45000)
    finally:
        board.set(solar_meter_mode="ok")
