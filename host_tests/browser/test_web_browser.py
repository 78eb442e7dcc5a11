"""A real headless Chromium walks the web interface of the firmware running in the VM on
the virtual board: first login with the serial number, the forced password change, the
configuration wizard, a changed charging limit that the status page then shows while a
car charges, and log off. Screenshots go to host_tests/artifacts/ (git-ignored).

Needs Debian's chromium (.ci/run installs it) and the playwright package; without a
Chromium the test is skipped, unless REQUIRE_BROWSER is set (CI sets it)."""
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "vm"))
from webclient import HEAP, PASSWORD, PROV, SERIAL, charging, wait_web  # noqa: E402

ARTIFACTS = os.path.join(HERE, "..", "artifacts")
CHROMIUM = next((p for p in (os.getenv("CHROMIUM"), "/usr/bin/chromium",
                             shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and os.path.exists(p)), None)


def _browser_or_skip():
    why = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        why = "the playwright package is not installed (requirements-dev.txt)"
    if CHROMIUM is None:
        why = "no Chromium found (apt-get install chromium)"
    if why:
        if os.getenv("REQUIRE_BROWSER"):
            pytest.fail(why + ", and REQUIRE_BROWSER is set")
        pytest.skip(why)


def test_first_setup_change_a_limit_and_see_it_on_the_status_page(tmp_path):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    sys.path.insert(0, os.path.join(HERE, "..", ".."))
    from tools.build import build
    from tools.vboard.world import World
    import json

    out = str(tmp_path / "board")
    build(out)
    state = tmp_path / "flash"
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"charging.selftest_s": 1}))
    (state / "prov.json").write_text(PROV)
    w = World(str(state), heap=HEAP, code_root=out, web_port=0)
    w.start()
    os.makedirs(ARTIFACTS, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        wait_web(w)
        w.set(plugged=True)
        with sync_playwright() as p:
            # a fresh profile (playwright passes it as --user-data-dir)
            b = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True,
                viewport={"width": 390, "height": 844},  # a phone
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking", "--disable-component-update",
                      "--no-first-run"])
            page = b.pages[0] if b.pages else b.new_page()
            page.set_default_timeout(20000)

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
            expect(page.locator("#limit")).to_contain_text("10 A (configured)")
            # the duty changes at most once per 5 s (standards.md): the car may have
            # started at 32 A just before the new limit arrived
            expect(page.locator("#offered")).to_have_text("10 A", timeout=15000)
            # the session's current field starts at what is offered, not above the limit
            expect(page.locator("#app-current")).to_have_value("10")
            shot("5-status")
            assert charging(w) and w.state()["firmware"]["offered_a"] == 10.0
            # a bad value is refused with its reason next to the field
            page.goto(w.web_url + "/#config")
            page.fill("#f-charging-max-current-a", "99")
            page.locator("#sec-limits button", has_text="Save").click()
            expect(page.locator("#sec-limits [data-e='charging.max_current_a']")).to_contain_text(
                "between 6 and 80")
            shot("6-config-error")
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
