"""Drive the Airflow 3.3 UI as a user would: headless Chromium (Debian's, not a browser download)
through the ``playwright`` package.

``ensure_chromium()`` gives ``/usr/bin/chromium``, installing Debian's ``chromium`` package when it is
missing. ``AirflowUI`` logs in through the login form and keeps one page; each step (pause toggle,
backfill form, runs list) waits until the UI shows its result, and leaves numbered screenshots in
``shots_dir``; a step that does not find what it needs raises ``BrowserCheckError`` naming a screenshot.

The browser runs in UTC (``timezone_id="UTC"``): the UI shows and reads dates in the browser's time zone,
so a date typed into the backfill form means a UTC day here, and the form's own time-zone label is
checked to say so.

Not collected by pytest (the name does not start with ``test_``). By hand, against a running stack::

    python -m tests.devstack.airflow_ui BASE_URL USER PASSWORD SHOTS_DIR

logs in, pauses and unpauses ``coingecko_price_history``, submits a backfill of two days 20 days ago
(all runs) and prints what the UI and the REST API say about it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
APT_INSTALL = ["apt-get", "install", "-y", "-qq", "chromium"]

# The backfill form's "Reprocess Behavior" radios, by the value the API and `airflow backfill create
# --reprocess-behavior` take.
REPROCESS_LABELS = {"none": "Missing Runs", "failed": "Missing and Errored Runs", "completed": "All Runs"}


class BrowserCheckError(RuntimeError):
    """A browser check could not be done or did not see what it expected; the message says which."""


def ensure_chromium() -> str:
    """``/usr/bin/chromium``, installing Debian's ``chromium`` package with apt-get when it is missing
    (``apt-get update`` first only when the install fails for want of a package list)."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    instead = f"Install it yourself ({' '.join(APT_INSTALL)}, as root) and run again."
    if not shutil.which("apt-get"):
        raise BrowserCheckError(f"No {CHROMIUM} and apt-get is not available. {instead}")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(sudo + cmd, env=env, capture_output=True, text=True, check=False)

    print(f"airflow_ui: {CHROMIUM} not found; installing Debian's chromium with apt-get ...", flush=True)
    proc = run(APT_INSTALL)
    if proc.returncode != 0 and ("Unable to locate package" in proc.stderr
                                 or "has no installation candidate" in proc.stderr):
        update = run(["apt-get", "update", "-qq"])
        if update.returncode != 0:
            raise BrowserCheckError(f"'apt-get update -qq' failed ({update.returncode}): "
                                    f"{update.stderr.strip()[-400:]}\n{instead}")
        proc = run(APT_INSTALL)
    if proc.returncode != 0:
        raise BrowserCheckError(f"'{' '.join(APT_INSTALL)}' failed ({proc.returncode}): "
                                f"{proc.stderr.strip()[-400:]}\n{instead}")
    if not CHROMIUM.exists():
        raise BrowserCheckError(f"'{' '.join(APT_INSTALL)}' succeeded but {CHROMIUM} does not exist. "
                                f"{instead}")
    return str(CHROMIUM)


@dataclass(frozen=True)
class UIRun:
    """One row of a DAG's runs list as the UI shows it (times as shown: UTC here)."""

    run_id: str
    run_after: str  # "YYYY-MM-DD HH:MM:SS"
    state: str  # as shown, lower-cased: "success", "failed", "running", "queued", ...
    run_type: str  # lower-cased: "scheduled", "backfill", "manual", "asset_triggered"


@dataclass(frozen=True)
class SubmittedBackfill:
    """What the UI's "Run Backfill" created: the API's answer to the form, and what the form announced."""

    id: int
    dag_id: str
    from_date: str  # ISO 8601, as the API stored it
    to_date: str
    reprocess_behavior: str
    max_active_runs: int
    announced: str  # the form's preview line, e.g. "1 run will be triggered."


def _ui_date(value: str | date) -> tuple[str, str]:
    """``"YYYY-MM-DD"`` (a UTC midnight), ``"YYYY-MM-DDTHH:MM"`` or a date/datetime as the picker's two
    fields: ``("YYYY/MM/DD", "HH:mm")``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y/%m/%d}", f"{moment:%H:%M}"


@dataclass(frozen=True)
class UIBackfill:
    """One row of a DAG's Backfills tab as the UI shows it (times as shown: UTC here)."""

    from_date: str  # "YYYY-MM-DD HH:MM:SS"
    to_date: str
    reprocess: str  # the label: "Missing Runs", "Missing and Errored Runs", "All Runs"
    created_at: str
    completed_at: str  # "" while the backfill runs


class AirflowUI:
    """One logged-in headless Chromium page on an Airflow 3.3 UI (SimpleAuthManager's login form).

    ``with AirflowUI(base_url, user, password, shots_dir) as ui: ui.set_paused(...)``. ``timeout_s`` bounds
    each wait for the UI (this machine is slow: a login takes several seconds)."""

    def __init__(self, base_url: str, username: str, password: str, shots_dir: Path,
                 timeout_s: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.username, self._password = username, password
        self.shots_dir = Path(shots_dir)
        self.timeout_ms = timeout_s * 1000
        self._shots = 0
        self._pw: Any = None
        self._browser: Any = None
        self.page: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> AirflowUI:
        from playwright.sync_api import sync_playwright

        self.shots_dir.mkdir(parents=True, exist_ok=True)
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=ensure_chromium(), args=["--no-sandbox"])
            # UTC: the UI shows and reads every date in the browser's time zone
            context = self._browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
            self.page = context.new_page()
            self.page.set_default_timeout(self.timeout_ms)
            self._login()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser and stop playwright (safe to call twice)."""
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._pw is not None:
            self._pw.stop()
            self._pw = None

    # -- helpers -----------------------------------------------------------------------------------
    def shot(self, name: str) -> Path:
        """Save a screenshot of the page as ``shots_dir/<n>-<name>.png`` (n counts up from 01)."""
        self._shots += 1
        path = self.shots_dir / f"{self._shots:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def _fail(self, step: str, what: str) -> BrowserCheckError:
        try:
            where = f" (screenshot {self.shot(f'error-{step}')})"
        except Exception as err:  # the page itself may be gone
            where = f" (no screenshot: {err})"
        return BrowserCheckError(f"Airflow UI at {self.page.url if self.page else self.base_url}, {step}: "
                                 f"{what}{where}")

    def _check(self, step: str, what: str, locator: Any, assertion: str, *args: Any) -> None:
        """``expect(locator).<assertion>(*args)`` within the UI timeout (playwright's own default is 5 s);
        when it fails, raise ``BrowserCheckError`` saying ``what`` with a screenshot."""
        from playwright.sync_api import Error, expect

        try:
            getattr(expect(locator), assertion)(*args, timeout=self.timeout_ms)
        except (AssertionError, Error) as err:
            said = " ".join(str(err).split("Call log:")[0].split())  # playwright's why, without its log
            raise self._fail(step, f"{what}: {said}") from None

    def _login(self) -> None:
        page = self.page
        page.goto(self.base_url + "/")
        self._check("login", "no login form (input name=username)", page.locator("input[name=username]"),
                    "to_be_visible")
        page.locator("input[name=username]").fill(self.username)
        page.locator("input[name=password]").fill(self._password)
        page.get_by_role("button", name="Sign in").click()
        try:
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=self.timeout_ms)
        except Exception:
            said = page.locator("body").inner_text()[:300].replace("\n", " ")
            raise self._fail("login", f"still on the login page after signing in as {self.username!r}; "
                                      f"it says: {said}") from None
        self._check("login", "no 'Dags' link in the navigation after signing in",
                    page.get_by_role("link", name="Dags", exact=True), "to_be_visible")

    def open_dag(self, dag_id: str, tab: str = "") -> None:
        """Go to ``/dags/<dag_id>[/<tab>]`` and wait for the DAG id heading."""
        self.page.goto(f"{self.base_url}/dags/{dag_id}" + (f"/{tab}" if tab else ""))
        self._check(f"open {dag_id}", f"no heading {dag_id!r} (is the DAG parsed?)",
                    self.page.get_by_role("heading", name=dag_id, exact=True), "to_be_visible")

    def _toggle(self, dag_id: str) -> Any:
        # Chakra's switch beside the DAG id heading; its checkbox has no accessible name, so Airflow's
        # test id is the stable handle. Checked = active (unpaused).
        toggle = self.page.get_by_test_id("toggle-pause")
        self._check(f"pause toggle of {dag_id}", "no pause/unpause toggle (data-testid=toggle-pause) on the "
                    "DAG's page", toggle, "to_have_count", 1)
        return toggle

    def _table(self, step: str, empty_text: str) -> list[dict[str, str]]:
        """The rows of the page's one table as {column header: cell text}; [] when the page says
        ``empty_text`` instead (the UI draws no table then)."""
        page = self.page
        table, empty = page.get_by_role("table"), page.get_by_text(empty_text, exact=True)
        # the header may come before the rows, which fill in when the API answers
        self._check(step, f"neither a table with rows nor {empty_text!r}",
                    table.locator("tbody tr").first.or_(empty), "to_be_visible")
        if empty.is_visible():
            return []
        headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        cells = table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
        return [dict(zip(headers, row, strict=False)) for row in cells if len(row) == len(headers)]

    # -- steps -------------------------------------------------------------------------------------
    def is_paused(self, dag_id: str) -> bool:
        """Whether the DAG's page shows it paused (its toggle off)."""
        self.open_dag(dag_id)
        return not self._toggle(dag_id).get_by_role("checkbox").is_checked()

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause ``dag_id`` with the toggle on its page, as a user clicks it; then wait for the
        UI's request to succeed and check that a fresh load of the page shows the new state."""
        want = "unchecked" if paused else "checked"
        step = f"{'pause' if paused else 'unpause'} {dag_id}"
        self.open_dag(dag_id)
        toggle = self._toggle(dag_id)
        if toggle.get_attribute("data-state") != want:
            with self.page.expect_response(
                    lambda r: r.request.method == "PATCH" and f"/dags/{dag_id}" in r.url) as answer:
                toggle.click()
            if not answer.value.ok:
                raise self._fail(step, f"the UI's PATCH {answer.value.url} answered {answer.value.status}")
        # the switch flips at the click, before the server answers: load the page again to see what stuck
        self.open_dag(dag_id)
        self._check(step, f"the toggle does not show {'paused' if paused else 'active'} after a reload",
                    self._toggle(dag_id), "to_have_attribute", "data-state", want)
        self.shot(f"{dag_id}-{'paused' if paused else 'active'}")

    def backfill(self, dag_id: str, from_date: str | date, to_date: str | date, reprocess: str = "none",
                 max_active_runs: int | None = None) -> SubmittedBackfill:
        """Submit a backfill of ``dag_id`` through its Trigger button's Backfill form.

        ``from_date``/``to_date`` are ``YYYY-MM-DD`` (UTC midnight) or ``YYYY-MM-DDTHH:MM`` (UTC), typed into
        the form's From/To pickers: both are logical dates, inclusive, as in ``airflow backfill create``.
        ``reprocess`` is ``none`` (Missing Runs), ``failed`` (Missing and Errored Runs) or ``completed``
        (All Runs). Screenshots the filled form, then the page after submitting; returns what the UI's
        request created. A paused DAG is unpaused by the form (its "Unpause on trigger" box, left as is)."""
        if reprocess not in REPROCESS_LABELS:
            raise ValueError(f"reprocess must be one of {sorted(REPROCESS_LABELS)}, not {reprocess!r}")
        page, step = self.page, f"backfill {dag_id}"
        self.open_dag(dag_id)
        page.get_by_role("button", name="Trigger Dag").click()
        dialog = page.get_by_role("dialog").filter(has=page.get_by_role("radio", name="Backfill"))
        self._check(step, "the Trigger button opened no dialog with a 'Backfill' choice", dialog,
                    "to_be_visible")
        dialog.get_by_text("Backfill", exact=True).click()
        title = dialog.get_by_role("heading", name=f"Run Backfill - {dag_id}", exact=True)
        self._check(step, f"no dialog title 'Run Backfill - {dag_id}'", title, "to_be_visible")

        for label, value in (("From", from_date), ("To", to_date)):
            day, hhmm = _ui_date(value)
            field = dialog.get_by_role("group").filter(has=page.get_by_text(label, exact=True))
            field.get_by_test_id("datetime-input").click()
            # a closed picker stays in the page (Chakra keeps the From popover, data-state="closed")
            picker = page.locator('[role="dialog"][data-state="open"]').filter(
                has=page.get_by_placeholder("YYYY/MM/DD"))
            self._check(step, f"the {label} field opened no date picker", picker, "to_be_visible")
            # the picker names the time zone its fields mean: the browser's, UTC here
            self._check(step, f"the {label} picker is not in UTC", picker.get_by_role("paragraph").first,
                        "to_have_text", "UTC")
            picker.get_by_placeholder("YYYY/MM/DD").fill(day)
            picker.get_by_placeholder("HH:mm").fill(hhmm)
            title.click()  # a click outside closes the picker, as a user does
            shown = datetime.strptime(f"{day} {hhmm}", "%Y/%m/%d %H:%M").strftime("%b %d, %Y %H:%M")
            self._check(step, f"the {label} field does not show {shown}", field, "to_contain_text", shown)

        behaviour = REPROCESS_LABELS[reprocess]
        dialog.get_by_text(behaviour, exact=True).click()
        self._check(step, f"the '{behaviour}' reprocess radio is not checked",
                    dialog.get_by_role("radio", name=behaviour, exact=True), "to_be_checked")
        if max_active_runs is not None:
            dialog.locator("input[name=max_active_runs]").fill(str(max_active_runs))
        # the form asks the API for a dry run of the range and says how many runs it makes
        announced = dialog.get_by_text(re.compile(r"\d+ runs? will be triggered|No runs"))
        self._check(step, "the form announced no run count for the range", announced, "to_be_visible")
        announced_text = announced.inner_text().strip()
        submit = dialog.get_by_role("button", name="Run Backfill", exact=True)
        self._check(step, f"'Run Backfill' stays disabled ({announced_text})", submit, "to_be_enabled")
        self.shot(f"{dag_id}-backfill-form")

        with page.expect_response(lambda r: r.request.method == "POST" and "/backfills" in r.url
                                  and "dry_run" not in r.url) as answer:
            submit.click()
        if not answer.value.ok:
            raise self._fail(step, f"the UI's POST {answer.value.url} answered {answer.value.status}: "
                                   f"{answer.value.text()[:300]}")
        created = answer.value.json()
        self._check(step, "the backfill dialog did not close after 'Run Backfill'", title, "to_be_hidden")
        self._check(step, "no 'Backfill generated' notice after 'Run Backfill'",
                    # Chakra draws each toast twice (same id): either copy will do
                    page.get_by_text("Backfill generated", exact=True).first, "to_be_visible")
        self.shot(f"{dag_id}-backfill-submitted")
        return SubmittedBackfill(id=created["id"], dag_id=created["dag_id"], from_date=created["from_date"],
                                 to_date=created["to_date"], reprocess_behavior=created["reprocess_behavior"],
                                 max_active_runs=created["max_active_runs"], announced=announced_text)

    def runs(self, dag_id: str) -> list[UIRun]:
        """The rows of the DAG's runs list (``/dags/<id>/runs``: its first page, newest first)."""
        step = f"runs of {dag_id}"
        self.open_dag(dag_id, "runs")
        rows = self._table(step, "No Dag Runs found")
        wanted = ("Dag Run ID", "Run After", "State", "Run Type")
        if rows and not set(wanted) <= set(rows[0]):
            raise self._fail(step, f"the runs table lacks one of the columns {wanted}: {list(rows[0])}")
        return [UIRun(run_id=r["Dag Run ID"], run_after=r["Run After"], state=r["State"].lower(),
                      run_type=r["Run Type"].lower().replace(" ", "_")) for r in rows]

    def run_states(self, dag_id: str, run_type: str | None = None) -> list[str]:
        """The states the runs list shows for the DAG's runs (of ``run_type`` only, when given)."""
        return [r.state for r in self.runs(dag_id) if run_type is None or r.run_type == run_type]

    def backfills(self, dag_id: str) -> list[UIBackfill]:
        """The rows of the DAG's Backfills tab (``/dags/<id>/backfills``)."""
        step = f"backfills of {dag_id}"
        self.open_dag(dag_id, "backfills")
        rows = self._table(step, "No Backfills found")
        wanted = ("From", "To", "Reprocess Behavior", "Created at", "Completed at")
        if rows and not set(wanted) <= set(rows[0]):
            raise self._fail(step, f"the backfills table lacks one of the columns {wanted}: {list(rows[0])}")
        return [UIBackfill(from_date=r["From"], to_date=r["To"], reprocess=r["Reprocess Behavior"],
                           created_at=r["Created at"], completed_at=r["Completed at"]) for r in rows]

    def wait_for_backfills(self, dag_id: str, *, timeout_s: float = 300,
                           poll_s: float = 5) -> list[UIBackfill]:
        """Reload the Backfills tab until every backfill it lists shows a completion time (the scheduler
        marks one complete a little after its last run ends). Screenshots the tab it ends on."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.backfills(dag_id)
            if found and all(b.completed_at for b in found):
                self.shot(f"{dag_id}-backfills")
                return found
            if time.monotonic() > deadline:
                raise self._fail(f"backfills of {dag_id}",
                                 f"not all completed within {timeout_s:.0f} s: {found}")
            time.sleep(poll_s)

    def wait_for_runs(self, dag_id: str, count: int, *, run_type: str | None = None, state: str = "success",
                      timeout_s: float = 300, poll_s: float = 5) -> list[UIRun]:
        """Reload the runs list until it shows at least ``count`` runs (of ``run_type``), all in ``state``; a
        failed run ends the wait at once. Screenshots the list it ends on."""
        deadline = time.monotonic() + timeout_s
        while True:
            runs = [r for r in self.runs(dag_id) if run_type is None or r.run_type == run_type]
            if len(runs) >= count and all(r.state == state for r in runs):
                self.shot(f"{dag_id}-runs")
                return runs
            if any(r.state == "failed" for r in runs) and state != "failed":
                raise self._fail(f"runs of {dag_id}", f"a run failed: {runs}")
            if time.monotonic() > deadline:
                raise self._fail(f"runs of {dag_id}", f"not {count} {run_type or ''} run(s) in {state} "
                                                      f"within {timeout_s:.0f} s: {runs}")
            time.sleep(poll_s)


def _api_backfill(base_url: str, username: str, password: str, backfill_id: int) -> dict:
    """The backfill as the REST API has it (a JWT from SimpleAuthManager's /auth/token)."""
    import requests

    token = requests.post(f"{base_url}/auth/token", json={"username": username, "password": password},
                          timeout=30)
    token.raise_for_status()
    answer = requests.get(f"{base_url}/api/v2/backfills/{backfill_id}", timeout=30,
                          headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    answer.raise_for_status()
    return answer.json()


def main(argv: list[str]) -> int:
    """The self-test: log in, pause and unpause the history DAG, backfill two days 20 days ago (all runs),
    then compare what the REST API stored with the dates typed."""
    if len(argv) != 4:
        print("usage: python -m tests.devstack.airflow_ui BASE_URL USER PASSWORD SHOTS_DIR", file=sys.stderr)
        return 2
    base_url, user, password, shots = argv
    dag_id = "coingecko_price_history"
    today = datetime.now(UTC).date()
    days = (today - timedelta(days=20), today - timedelta(days=19))
    began = time.monotonic()
    with AirflowUI(base_url, user, password, Path(shots)) as ui:
        logged_in = time.monotonic()
        ui.shot("logged-in")
        was_paused = ui.is_paused(dag_id)
        ui.set_paused(dag_id, True)
        ui.set_paused(dag_id, False)
        toggled = time.monotonic()
        made = ui.backfill(dag_id, days[0].isoformat(), days[1].isoformat(), reprocess="completed")
        done = time.monotonic()
        print(f"login {logged_in - began:.1f} s, pause + unpause {toggled - logged_in:.1f} s, "
              f"backfill form {done - toggled:.1f} s (was paused: {was_paused})")
        print(f"UI created backfill {made}")
        stored = _api_backfill(ui.base_url, user, password, made.id)
        want = (f"{days[0]}T00:00:00Z", f"{days[1]}T00:00:00Z")
        got = (stored["from_date"], stored["to_date"])
        print(f"REST API: backfill {stored['id']} from {got[0]} to {got[1]}, "
              f"reprocess {stored['reprocess_behavior']}")
        if got != want or stored["reprocess_behavior"] != "completed":
            print(f"MISMATCH: typed {want} with 'All Runs', stored {got} {stored['reprocess_behavior']}",
                  file=sys.stderr)
            return 1
        # the Backfills tab shows the range typed, in UTC, once the scheduler has done it
        listed = ui.wait_for_backfills(dag_id)
        typed = (f"{days[0]} 00:00:00", f"{days[1]} 00:00:00")
        mine = [b for b in listed if (b.from_date, b.to_date) == typed]
        print(f"Backfills tab: {listed}")
        if not mine or mine[-1].reprocess != "All Runs":
            print(f"MISMATCH: the Backfills tab shows no {typed} 'All Runs' row", file=sys.stderr)
            return 1
        backfill_runs = ui.wait_for_runs(dag_id, 1, run_type="backfill")
        print(f"runs list: backfill runs {backfill_runs}; all states {ui.run_states(dag_id)}")
        print(f"total {time.monotonic() - began:.1f} s")
    print(f"screenshots in {shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
