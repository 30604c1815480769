"""The documented stack (``make airflow`` and ``make mlflow``, through ``ui_stack.MakeStack``) in a real
headless browser (Debian's chromium via Selenium): log in with the password ``airflow standalone``
generated, open a sweep DAG's trigger form, see invalid values rejected, trigger a valid run, read its
Sweep tab (trials table, best-so-far curve) and a trial's MLflow tab, follow every MLflow link (the run's,
its trials' runs list, a trial's, the nav link) and see MLflow's Model training view with the trial runs,
not its GenAI traces page. Screenshots land in ``test-artifacts/ui/`` (git-ignored).

Needs ``chromium`` and ``chromium-driver`` (apt) and ``selenium`` (pip); skips, saying which, without them.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo_tasks import tracking
from tests.conftest import REPO, write_sweep
from tests.integration.ui_stack import USER, MakeStack

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SHOTS = REPO / "test-artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SWEEP = """
name: ui_branin
description: A three-trial Branin sweep for the browser test.
objective: {name: branin}
direction: minimize
space:
  x1: {type: float, low: -5.0, high: 10.0}
  x2: {type: float, low: 0.0, high: 15.0}
budget: {max_trials: 4, n_init: 2, batch_size: 2}
sampler: {name: random}
resources: {retries: 0}
"""
DAG = "hpo__ui_branin"
TRIAL_RUNS = ("trial-0000", "trial-0001", "trial-0002")
NO_TRACES = ("No traces yet", "No traces found")  # MLflow's GenAI view of an experiment without traces


@pytest.fixture
def stack(tmp_path: Path, migrated_airflow_db: Path) -> Iterator[MakeStack]:
    sweeps = tmp_path / "sweeps"
    write_sweep(sweeps, "ui_branin", SWEEP)
    s = MakeStack(tmp_path / "stack", sweeps, migrated_airflow_db)
    s.root.mkdir()
    try:
        s.start(mlflow=True)
        s.wait_for_dag(DAG)
        yield s
    finally:
        s.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.implicitly_wait(15)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_trigger_form_rejects_invalid_input_and_runs_link_to_mlflow(stack: MakeStack, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser

    def shot(name: str) -> None:
        d.save_screenshot(str(SHOTS / f"{name}.png"))

    def dialog_button(text: str) -> Any:
        return wait_for(
            f"button {text!r}",
            lambda: next(
                (
                    b
                    for b in d.find_elements(By.CSS_SELECTOR, "[role=dialog] button")
                    if b.text.strip() == text
                ),
                None,
            ),
        )

    # Log in (SimpleAuthManager's login page).
    d.get(stack.airflow_url + "/")
    wait_for("the login page", lambda: "/auth/login" in d.current_url)
    shot("01_login")
    d.find_element(By.NAME, "username").send_keys(USER)
    d.find_element(By.NAME, "password").send_keys(stack.password)  # the one make airflow generated
    d.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
    wait_for("the home page", lambda: "/auth/login" not in d.current_url)

    # The trigger form: sections from the Params, the DAG doc.
    d.get(f"{stack.airflow_url}/dags/{DAG}")
    d.find_element(By.XPATH, "//button[contains(normalize-space(), 'Trigger')]").click()
    for section in ("Budget", "Sampler", "Advanced"):
        dialog_button(section)
    shot("02_trigger_form_sections")
    dialog_button("Budget").click()
    field = d.find_element(By.NAME, "element_max_trials")

    # Above the maximum: the form does not keep it.
    def clear() -> None:
        field.send_keys(Keys.CONTROL, "a")  # a modifier stays down until the end of one send_keys
        field.send_keys(Keys.BACKSPACE)

    clear()
    field.send_keys("99", Keys.TAB)
    wait_for("the value to be clamped", lambda: field.get_attribute("value") == "4")
    # Empty: rejected with a message, Trigger disabled.
    clear()
    field.send_keys(Keys.TAB)
    required = "//*[contains(text(), 'This field is required')]"
    wait_for("the error", lambda: any(e.is_displayed() for e in d.find_elements(By.XPATH, required)))
    assert not dialog_button("Trigger").is_enabled()
    shot("03_trigger_form_invalid_rejected")

    # A valid value: the run is created and the browser lands on it.
    field.send_keys("3", Keys.TAB)
    wait_for("Trigger to be enabled", lambda: dialog_button("Trigger").is_enabled())
    dialog_button("Trigger").click()
    wait_for("the new run's page", lambda: f"/dags/{DAG}/runs/" in d.current_url)
    run_id = urllib.parse.unquote(d.current_url.split("/runs/")[1].split("/")[0])
    assert stack.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")["conf"]["max_trials"] == 3

    def finished_state() -> str | None:
        state = str(stack.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"])
        return state if state in ("success", "failed") else None

    state = wait_for("the run to finish", finished_state, timeout=600)
    assert state == "success", f"see logs in {stack.root}"

    # The plugin's pages sit behind Airflow's authentication.
    progress_url = f"{stack.airflow_url}/hpo/sweeps/{DAG}/runs/{urllib.parse.quote(run_id)}/progress.json"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(progress_url, timeout=30)
    assert denied.value.code == 401
    authed = urllib.request.Request(progress_url, headers={"Authorization": f"Bearer {stack.token()}"})
    with urllib.request.urlopen(authed, timeout=30) as r:
        assert json.load(r)["trials_done"] == 3

    # The Sweep tab (plugin page in an iframe): progress, stop reason, the trials, the best-so-far curve,
    # links to the MLflow parent run and to its trials.
    d.get(f"{stack.airflow_url}/dags/{DAG}/runs/{urllib.parse.quote(run_id)}")
    d.find_element(By.XPATH, "//a[normalize-space()='Sweep']").click()
    d.switch_to.frame(d.find_element(By.TAG_NAME, "iframe"))
    assert "3 / 3" in d.find_element(By.ID, "progress").text
    assert "max_trials" in d.find_element(By.ID, "stop").text
    rows = d.find_elements(By.CSS_SELECTOR, "#trials tr.trial")
    assert [r.get_attribute("data-trial") for r in rows] == ["0", "1", "2"]
    assert all("COMPLETE" in r.text for r in rows)
    assert d.find_elements(By.CSS_SELECTOR, "svg#best-curve polyline")
    run_link = d.find_element(By.ID, "mlflow-link").get_attribute("href")
    trials_link = d.find_element(By.ID, "mlflow-trials-link").get_attribute("href")
    d.switch_to.default_content()
    shot("04_dag_run_sweep_tab")
    assert run_link.startswith(stack.mlflow_url) and "workflowType=machine_learning" in run_link
    assert "searchFilter=" in trials_link and "orderByKey=" in trials_link

    # A trial's task instance: the MLflow trial tab shows the trial and links to its child run.
    d.get(
        f"{stack.airflow_url}/dags/{DAG}/runs/{urllib.parse.quote(run_id)}/tasks/round_00.run_trial/mapped/0"
    )
    d.find_element(By.XPATH, "//a[normalize-space()='MLflow trial']").click()
    d.switch_to.frame(d.find_element(By.TAG_NAME, "iframe"))
    number = d.find_element(By.ID, "trial-number").text
    trial_table = d.find_element(By.ID, "trial").text
    trial_link = d.find_element(By.ID, "mlflow-link").get_attribute("href")
    d.switch_to.default_content()
    shot("05_task_instance_mlflow_tab")
    assert number in ("0", "1") and "COMPLETE" in trial_table
    assert all(k in trial_table for k in ("value", "param x1", "param x2", "wallclock"))
    assert trial_link.startswith(stack.mlflow_url) and trial_link != run_link

    def mlflow_page(url: str, what: str, texts: tuple[str, ...], name: str) -> str:
        """Open an MLflow link, wait for ``texts``; never MLflow's empty GenAI traces page."""
        d.get(url)
        body: str = wait_for(
            what,
            lambda: (t := d.find_element(By.TAG_NAME, "body").text) and all(x in t for x in texts) and t,
        )
        shot(name)
        (SHOTS / f"{name}.txt").write_text(body)
        assert not any(x in body for x in NO_TRACES), f"{what}: MLflow's GenAI view"
        return body

    mlflow_page(run_link, "MLflow's run page", (f"ui_branin:{run_id}",), "06_mlflow_parent_run")
    listed = mlflow_page(trials_link, "MLflow's runs list of the trials", TRIAL_RUNS, "07_mlflow_trials")
    assert f"ui_branin:{run_id}" not in listed  # the parent run is filtered out: only its trials
    # Sorted by value (MLflow shows the URL's orderByKey as its sort; it adds the value column only when the
    # sort is picked from its own menu: see docs/how-it-works.md#mlflow-layout).
    assert "Sort: value" in listed
    mlflow_page(trial_link, "MLflow's trial page", (f"trial-000{number}",), "08_mlflow_trial_run")

    # The nav link opens MLflow's experiment list in the Model training view.
    plugins = stack.api("GET", "/plugins")["plugins"]
    (nav,) = [v for p in plugins for v in p.get("external_views", []) if v["destination"] == "nav"]
    assert nav["href"] == tracking.home_url(stack.mlflow_url)
    mlflow_page(nav["href"], "MLflow's experiment list", ("hpo/ui_branin",), "09_mlflow_nav_link")
