"""A real browser for UI tests: headless Chromium from Debian, driven by Selenium, nothing that calls out.

- :func:`ensure_chromium` finds ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``; when missing it
  installs the Debian packages ``chromium`` and ``chromium-driver`` with apt (only as root, never
  through sudo), or says why it cannot.
- :func:`start_browser` starts Chromium through the system driver given explicitly
  (``Service("/usr/bin/chromedriver")``), so Selenium Manager never runs (it would download
  drivers and send usage statistics; ``SE_AVOID_STATS=true`` is set as well), with a fresh
  profile and the flags that stop Chromium's own background traffic.
- :class:`AirflowUI` logs into the Airflow 3 UI and drives a DAG's trigger form.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DEBIAN_PACKAGES = ("chromium", "chromium-driver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    # resolve no host name but loopback: the pages under test cannot reach anything off this machine
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
)
APT_LOCK = Path(tempfile.gettempdir()) / "medgrpo-apt.lock"


class BrowserUnavailable(RuntimeError):
    """Chromium and its driver are not installed and cannot be installed here (the reason says why)."""


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=timeout, env=env)


def ensure_chromium(timeout: float = 900.0) -> tuple[Path, Path]:
    """Paths of Chromium and chromedriver, installing the Debian packages when missing and allowed."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return CHROMIUM, CHROMEDRIVER
    wanted = " ".join(DEBIAN_PACKAGES)
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing and apt-get is not available to install {wanted}"
        )
    if os.geteuid() != 0:
        raise BrowserUnavailable(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing and installing {wanted} needs root "
            f"(this runs as uid {os.geteuid()}; no sudo is attempted): run `apt-get install {wanted}` as root"
        )
    with open(APT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time
        if CHROMIUM.exists() and CHROMEDRIVER.exists():
            return CHROMIUM, CHROMEDRIVER
        install = ("install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES)
        done = _apt(*install, timeout=timeout)
        if done.returncode != 0:  # stale or missing package lists: refresh once and retry
            _apt("update", timeout=timeout)
            done = _apt(*install, timeout=timeout)
        if done.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            raise BrowserUnavailable(f"apt-get install {wanted} failed (exit {done.returncode}): {done.stderr[-800:]}")
    return CHROMIUM, CHROMEDRIVER


def start_browser(chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER) -> Any:
    """A headless Chromium WebDriver with a fresh profile; the caller quits it."""
    os.environ["SE_AVOID_STATS"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="medgrpo-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = str(chromium)
    driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    driver.set_page_load_timeout(60)
    driver.medgrpo_profile = profile  # removed by quit_browser
    return driver


def quit_browser(driver: Any) -> None:
    """Quit Chromium and remove its throwaway profile."""
    try:
        driver.quit()
    finally:
        shutil.rmtree(getattr(driver, "medgrpo_profile", ""), ignore_errors=True)


@contextmanager
def browser_session() -> Iterator[Any]:
    """:func:`start_browser`, quit on exit."""
    driver = start_browser(*ensure_chromium())
    try:
        yield driver
    finally:
        quit_browser(driver)


def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``condition()`` until it returns a truthy value; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as err:  # element not there yet, stale element while React re-renders
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


def _dialog_xpath(title: str) -> str:
    # one XPath query, evaluated in the page at once: no stale handles on popovers that re-render
    return f"//*[@role='dialog'][contains(normalize-space(.), {_xpath_literal(title)})]"


def find_dialog(driver: Any, title: str, timeout: float) -> Any:
    """The open dialog whose text contains ``title``."""
    from selenium.webdriver.common.by import By

    return wait_until(
        lambda: driver.find_element(By.XPATH, _dialog_xpath(title)), timeout=timeout, what=f"the {title!r} dialog"
    )


@dataclass
class TriggerForm:
    """The open "Trigger Dag" dialog of one DAG (looked up afresh each time: React re-renders it)."""

    ui: AirflowUI
    dag_id: str

    @property
    def dialog(self) -> Any:
        return self.ui.find_dialog(f"Trigger Dag - {self.dag_id}", timeout=15)

    def _by(self) -> Any:
        from selenium.webdriver.common.by import By

        return By

    def field_labels(self) -> list[str]:
        """The labels of the Run Parameters fields, as shown."""
        by = self._by()
        return [
            e.text.strip().rstrip("*").strip()
            for e in self.dialog.find_elements(by.CSS_SELECTOR, "label")
            if e.text.strip()
        ]

    def field(self, label: str) -> Any:
        """The input (or textarea) of the field whose label text is ``label``."""
        by = self._by()
        xpath = (
            ".//label[normalize-space(translate(., '*', ''))=$label]"
            "/ancestor::*[.//input or .//textarea][1]//*[self::input or self::textarea]"
        ).replace("$label", _xpath_literal(label))
        return wait_until(
            lambda: self.dialog.find_element(by.XPATH, xpath), timeout=10, what=f"field {label!r} in {self.dag_id} form"
        )

    def fill(self, label: str, value: str) -> None:
        """Type ``value`` into the field labelled ``label`` (replacing what is there)."""
        from selenium.webdriver.common.keys import Keys

        def type_it() -> bool:
            element = self.field(label)
            self.ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
            element.click()
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(Keys.DELETE)
            element.send_keys(value)
            return self.field(label).get_attribute("value") == value

        wait_until(type_it, timeout=20, what=f"{value!r} typed into {label!r}", interval=0.5)

    def trigger_button(self) -> Any:
        by = self._by()
        buttons = [b for b in self.dialog.find_elements(by.TAG_NAME, "button") if b.text.strip() == "Trigger"]
        if not buttons:
            raise AssertionError(
                f"the {self.dag_id} trigger form has no Trigger button; it shows: {self.dialog.text[:500]}"
            )
        return buttons[-1]

    def can_submit(self) -> bool:
        button = self.trigger_button()
        return bool(button.is_enabled()) and button.get_attribute("data-disabled") is None

    def submittable(self, settle: float = 10.0) -> bool:
        """Whether Trigger is enabled with no error mark, once the form has settled (re-renders retried)."""
        try:
            wait_until(lambda: self.can_submit() and not self.has_error_mark(), timeout=settle, what="a valid form")
        except TimeoutError:
            return False
        return True

    def has_error_mark(self) -> bool:
        """Whether the "Run Parameters" header shows the UI's error icon (a field fails its schema)."""
        by = self._by()
        headers = self.dialog.find_elements(by.CSS_SELECTOR, "button[id$='trigger:Run Parameters']")
        return any(h.find_elements(by.CSS_SELECTOR, ":scope > .chakra-stack svg") for h in headers)

    def error_text(self) -> str:
        """Visible validation messages in the form (empty when there are none)."""
        by = self._by()
        found = self.dialog.find_elements(
            by.CSS_SELECTOR,
            "[data-part='error-text'], [aria-invalid='true'], [data-invalid], .chakra-field__error-text",
        )
        messages = sorted({(e.text or e.get_attribute("name") or "invalid").strip() for e in found})
        if self.has_error_mark():
            messages.insert(0, "Run Parameters shows an error mark")
        return "; ".join(messages)

    def _error_text_if_shown(self) -> str:
        try:
            return self.error_text() or "none"
        except Exception as err:  # the dialog closed or re-rendered meanwhile
            return f"the form is no longer shown ({type(err).__name__})"

    def submit(self, timeout: float = 30.0) -> str:
        """Click Trigger; return the run id of the run page the UI opens."""

        def press() -> bool:
            button = self.trigger_button()
            self.ui.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
            button.click()
            return True

        wait_until(press, timeout=15, what=f"a click on Trigger in the {self.dag_id} form")
        prefix = f"/dags/{self.dag_id}/runs/"
        try:
            url = wait_until(
                lambda: self.ui.driver.current_url if prefix in self.ui.driver.current_url else None,
                timeout=timeout,
                what=f"the run page of {self.dag_id} after Trigger",
            )
        except TimeoutError as err:
            # read the form only now: after a successful Trigger the dialog is gone (its handles are stale)
            raise TimeoutError(f"{err}; form errors: {self._error_text_if_shown()}") from None
        from urllib.parse import unquote

        return unquote(url.split(prefix, 1)[1].split("?")[0].strip("/"))


class AirflowUI:
    """The Airflow 3 web UI in a browser, logged in as one user."""

    def __init__(self, driver: Any, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def login(self, username: str, password: str, timeout: float = 60.0) -> None:
        """Sign in on the SimpleAuthManager login page."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/")
        user = wait_until(lambda: self.driver.find_element(By.NAME, "username"), timeout=timeout, what="the login form")
        user.send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
        wait_until(lambda: "/auth/login" not in self.driver.current_url, timeout=timeout, what="the login to finish")

    def ensure_logged_in(self, username: str, password: str) -> None:
        """Log in unless this browser already holds a session for this Airflow."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/")

        def where() -> str | None:
            if "/auth/login" in self.driver.current_url:
                return "login page"
            if self.driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Browse']"):
                return "signed in"
            return None

        if wait_until(where, timeout=60, what="the Airflow UI to load") == "login page":
            self.login(username, password)

    def open_trigger_form(self, dag_id: str, timeout: float = 60.0) -> TriggerForm:
        """Open the DAG's page and its "Trigger Dag" dialog."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/dags/{dag_id}")
        button = wait_until(
            lambda: self.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']"),
            timeout=timeout,
            what=f"the Trigger button on the {dag_id} page",
        )
        button.click()
        form = TriggerForm(self, dag_id)
        # the form renders its fields from the DAG's params once they are fetched
        wait_until(
            lambda: "Run Parameters" in form.dialog.text, timeout=timeout, what=f"the Run Parameters of {dag_id}"
        )
        return form

    def find_dialog(self, title: str, timeout: float) -> Any:
        """The open dialog whose text contains ``title``."""
        return find_dialog(self.driver, title, timeout)


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


# ---- Airflow REST helpers the UI tests share (the stack is medgrpo.services.airflow_stack.AirflowStack) ----


def run_of(stack: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    from urllib.parse import quote

    return dict(stack.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"))


def wait_started(stack: Any, dag_id: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Wait until the run has left ``queued`` (the scheduler started it); return the run."""
    return dict(
        wait_until(
            lambda: (r := run_of(stack, dag_id, run_id))["state"] != "queued" and r.get("start_date") and r,
            timeout=timeout,
            what=f"{dag_id} run {run_id} to start",
            interval=1.0,
        )
    )


def stop_dag(stack: Any, dag_id: str) -> list[str]:
    """Pause ``dag_id`` and mark its unfinished runs failed (their tasks stop); return those run ids."""
    from urllib.parse import quote

    stack.api("PATCH", f"/dags/{dag_id}", json_body={"is_paused": True})
    stopped = []
    for run in stack.runs(dag_id):
        if run["state"] not in ("success", "failed"):
            stack.api(
                "PATCH", f"/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}", json_body={"state": "failed"}
            )
            stopped.append(run["dag_run_id"])
    return stopped


def xcom_value(stack: Any, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    """The ``return_value`` XCom of one task instance, deserialised."""
    from urllib.parse import quote

    path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
    entry = stack.api("GET", path, params={"map_index": map_index, "deserialize": "true", "stringify": "false"})
    return entry["value"]


def task_states(stack: Any, dag_id: str, run_id: str) -> dict[str, str | None]:
    from urllib.parse import quote

    tis = stack.task_instances(dag_id, quote(run_id, safe=""))
    return {f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]: t["state"] for t in tis}


class MlflowUI:
    """The MLflow 3 UI in a browser (no login: the test server runs without auth)."""

    def __init__(self, driver: Any, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url.rstrip("/")

    def set_alias(self, model_name: str, version: str, alias: str, timeout: float = 60.0) -> None:
        """On the version's page: Add/Edit aliases → type ``alias`` → Save aliases, as a person does."""
        from urllib.parse import quote

        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver.get(f"{self.base_url}/#/models/{quote(model_name, safe='')}/versions/{version}")
        edit = wait_until(
            lambda: self.driver.find_element(
                By.CSS_SELECTOR, "button[title='Add aliases'], button[title='Edit aliases']"
            ),
            timeout=timeout,
            what=f"the alias editor of {model_name} v{version} in the MLflow UI",
        )
        edit.click()
        title = f"Add/Edit alias for model version {version}"
        modal = find_dialog(self.driver, title, timeout)
        field = wait_until(
            lambda: next(e for e in modal.find_elements(By.CSS_SELECTOR, "input") if e.is_displayed()),
            timeout=timeout,
            what="the alias input",
        )
        field.click()
        field.send_keys(alias)
        field.send_keys(Keys.ENTER)
        save = wait_until(
            lambda: next(
                b
                for b in modal.find_elements(By.TAG_NAME, "button")
                if b.text.strip() == "Save aliases" and b.is_enabled()
            ),
            timeout=timeout,
            what="an enabled Save aliases button",
        )
        save.click()
        wait_until(
            lambda: not self.driver.find_elements(By.XPATH, _dialog_xpath(title)),
            timeout=timeout,
            what="the alias dialog to close after saving",
        )
