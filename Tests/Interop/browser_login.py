"""Drives a real headless Chromium through TokenGate's browser login against
django-oauth-toolkit, and prints what each step saw as one JSON object.

usage: browser_login.py GATEWAY_BASE DOT_BASE
Uses Debian's chromium and /usr/bin/chromedriver; nothing is downloaded (SE_OFFLINE).
Every wait has a deadline (WebDriverWait, page load timeout)."""
import json
import os
import sys

os.environ["SE_OFFLINE"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

GATEWAY, DOT = sys.argv[1], sys.argv[2]
USER, PASSWORD = "alice", "interop-alice-password"


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    return driver


def wait_for(driver, condition, seconds=20):
    try:
        return WebDriverWait(driver, seconds).until(condition)
    except Exception as error:
        text = driver.find_element(By.TAG_NAME, "body").text[:500] if driver.find_elements(By.TAG_NAME, "body") else ""
        raise RuntimeError(f"timed out at {driver.current_url}: {text}") from error


def echoed(driver):
    """What the echo upstream reported (its JSON answer, shown as the page's text)."""
    text = driver.find_element(By.TAG_NAME, "body").text
    report = json.loads(text)
    return {name.lower(): value for name, value in report["headers"]} | {"path": report["path"]}


def sign_in(driver):
    wait_for(driver, expected_conditions.presence_of_element_located((By.ID, "id_username")))
    driver.find_element(By.ID, "id_username").send_keys(USER)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


def at_gateway(driver, path_prefix):
    return wait_for(driver, lambda d: d.current_url.startswith(GATEWAY + path_prefix))


result = {}
driver = browser()
try:
    # A page of the app: sent to the provider's login page, then back, logged in.
    driver.get(GATEWAY + "/dashboard?tab=1")
    wait_for(driver, lambda d: d.current_url.startswith(DOT + "/accounts/login/"))
    result["login_page"] = driver.current_url.split("?")[0]
    sign_in(driver)
    at_gateway(driver, "/dashboard")
    seen = echoed(driver)
    result["first"] = {"url": driver.current_url, "path": seen["path"], "subject": seen.get("x-auth-subject"),
                       "email": seen.get("x-auth-email"), "name": seen.get("x-auth-name"),
                       "username": seen.get("x-auth-username"), "groups": seen.get("x-auth-groups"),
                       "cookie": seen.get("cookie", "")}
    result["gateway_cookies"] = sorted(c["name"] for c in driver.get_cookies() if c["name"].startswith("tg-"))
    result["cookie_flags"] = sorted({(c["name"].split(".")[0], c.get("httpOnly"), c.get("sameSite")) for c in driver.get_cookies()
                                     if c["name"].startswith("tg-") and c["name"].split(".")[0].endswith("-session")}, key=str)
    # A reload keeps the session.
    driver.refresh()
    at_gateway(driver, "/dashboard")
    result["reload_subject"] = echoed(driver).get("x-auth-subject")
    # Logout ends it here and at the provider: back at the site's front page (itself behind
    # login), the provider asks for the password again instead of waving the browser on.
    driver.get(GATEWAY + "/.tokengate/logout")
    wait_for(driver, lambda d: d.current_url.startswith(DOT + "/accounts/login/"))
    result["after_logout_next"] = driver.current_url.split("next=", 1)[-1][:20]
    driver.get(GATEWAY + "/dashboard")
    wait_for(driver, lambda d: d.current_url.startswith(DOT + "/accounts/login/"))
    result["after_logout_login_page"] = True
finally:
    driver.quit()

# Two tabs of a fresh browser start logging in at once; both end up logged in where
# they started.
driver = browser()
try:
    driver.get(GATEWAY + "/tab-a")
    wait_for(driver, lambda d: d.current_url.startswith(DOT + "/accounts/login/"))
    first_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    second_tab = driver.current_window_handle
    driver.get(GATEWAY + "/tab-b")
    wait_for(driver, lambda d: d.current_url.startswith(DOT + "/accounts/login/"))
    state_cookies = [c["name"] for c in driver.get_cookies() if c["name"].startswith("tg-") and "-state-" in c["name"]]
    result["parallel_state_cookies"] = len(state_cookies)
    driver.switch_to.window(first_tab)
    sign_in(driver)
    at_gateway(driver, "/tab-a")
    result["tab_a"] = echoed(driver)["path"]
    driver.switch_to.window(second_tab)
    # Django rotated its CSRF token at the first tab's login: the provider's form in this
    # tab is stale, so it is loaded again (the gateway's attempt for this tab is unchanged).
    driver.refresh()
    sign_in(driver)
    at_gateway(driver, "/tab-b")
    result["tab_b"] = echoed(driver)["path"]
    result["tab_b_subject"] = echoed(driver).get("x-auth-subject")
finally:
    driver.quit()

print(json.dumps(result))
