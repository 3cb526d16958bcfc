"""End to end in Debian's chromium (Playwright, headless): sign in, create the sample patient's
case through the new-case form with its files, confirm the labels, run the pipeline, move a
screw (by typing and by dragging) and see the mechanics change, keep the plan as a new version,
compare it with the planner's, and open the report. Screenshots are saved under the test's tmp
folder (its path is printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.service.conftest import PASSWORD
from tests.service.server import add_user_cli, served

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the Python playwright package")

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.slow
def test_workstation_flow_in_the_browser(tmp_path: Path, sample_case_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM} (make test installs Debian's chromium)")
    from spinefuse.case import load_case

    case = load_case(sample_case_path)
    folder = sample_case_path.parent
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nscreenshots: {shots}")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    add_user_cli(url, "dr.lee", PASSWORD, "surgeon", "spine-a")
    with (
        served(url, tmp_path / "files", tmp_path / "server.log") as proc,
        sync_api.sync_playwright() as pw,
    ):
        base = proc.base_url  # type: ignore[attr-defined]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.fill("#username", "dr.lee")
        page.fill("#password", PASSWORD)
        page.click("#login")
        page.wait_for_selector("#new-case")
        page.screenshot(path=shots / "01-cases.png")

        # the new-case form with the sample patient's history and files
        p, hx = case.patient, case.history
        page.fill("#f-id", case.id)
        page.fill("#f-age_years", str(p.age_years))
        page.select_option("#f-sex", p.sex)
        page.fill("#f-height_cm", str(p.height_cm))
        page.fill("#f-weight_kg", str(p.weight_kg))
        page.fill("#f-t_score", str(p.t_score))
        page.select_option("#f-diabetes", p.diabetes)
        page.select_option("#f-asa_class", str(p.asa_class))
        for flag in (
            "osteoporosis",
            "depression",
            "preop_opioid_use",
            "workers_compensation",
            "nsaids_after_surgery",
        ):
            if getattr(p, flag):
                page.check(f"#f-{flag}")
        for n, prior in enumerate(p.prior_lumbar_surgery):
            if n:
                page.click("#add-prior-surgery")
            page.select_option(f"#f-prior_procedure_{n}", prior.procedure)
            page.fill(f"#f-prior_segments_{n}", ", ".join(prior.segments))
            if prior.years_ago is not None:
                page.fill(f"#f-prior_years_ago_{n}", str(prior.years_ago))
        page.fill("#f-back_pain_nrs", str(hx.back_pain_nrs))
        page.fill("#f-leg_pain_nrs", str(hx.leg_pain_nrs))
        page.check("#f-claudication")
        page.fill("#f-symptom_duration_months", str(hx.symptom_duration_months))
        page.fill("#f-conservative_care_months", str(hx.conservative_care_months))
        page.fill("#f-odi", str(hx.odi))
        for care in hx.conservative_care:
            page.check(f"input[name=care][value={care}]")
        if hx.claudication_distance_m is not None:
            page.fill("#f-claudication_distance_m", str(hx.claudication_distance_m))
        if hx.radiculopathy is not None:
            page.select_option("#f-radiculopathy_side", hx.radiculopathy.side)
            page.select_option("#f-radiculopathy_root", hx.radiculopathy.root)
        _fill_examination(page, case)
        page.set_input_files("#f-ct_nifti", str(folder / "ct.nii.gz"))
        page.set_input_files("#f-label_map", str(folder / "ct_labels.nii.gz"))
        _fill_mr_study(page, case, folder)
        page.set_input_files(
            "#f-xray_preop", [str(folder / "xray_lateral.csv"), str(folder / "xray_ap.csv")]
        )
        page.set_input_files("#f-xray_flexion", str(folder / "xray_flexion.csv"))
        page.set_input_files("#f-xray_extension", str(folder / "xray_extension.csv"))
        page.screenshot(path=shots / "02-new-case.png", full_page=True)
        # submitted from the keyboard: on a page longer than the window, headless chromium scrolls
        # a button it focuses on mouse-down out from under the pointer, and the click is lost
        page.focus("#create-case")
        page.keyboard.press("Enter")

        # label confirmation: the levels as segmented, then confirm and run the pipeline
        page.wait_for_selector("#levels tbody tr", timeout=120_000)
        _the_form_sent_the_case(page, base, case)
        page.evaluate("window.scrollTo(0, 0)")
        names = page.locator("#levels .level-name").all_inner_texts()
        assert [n for n in names if n in ("L1", "L2", "L3", "L4", "L5", "S1")] == [
            "L1",
            "L2",
            "L3",
            "L4",
            "L5",
            "S1",
        ]
        page.screenshot(path=shots / "03-labels.png", full_page=True)
        page.click("#confirm-labels")
        page.wait_for_selector("button.run-pipeline")
        page.click("button.run-pipeline")
        page.wait_for_selector("#job-state[data-status]", timeout=400_000)
        assert page.get_attribute("#job-state", "data-status") == "done", page.inner_text(
            "#job-state"
        )

        # the plan editor: type a new entry point for the first screw; the mechanics change
        page.click("#tab-plan")
        page.wait_for_selector("#mechanics[data-state=ready] #rod-stress-value", timeout=60_000)
        before = page.inner_text("#rod-stress-value")
        page.screenshot(path=shots / "04-plan.png", full_page=True)
        z = page.locator("#screw-table tbody tr").first.locator("input.entry-z")
        z.fill(str(float(z.input_value()) - 4.0))
        z.dispatch_event("change")
        page.wait_for_function(
            "b => document.querySelector('#mechanics').dataset.state === 'ready' && "
            "document.querySelector('#rod-stress-value').textContent !== b",
            arg=before,
            timeout=60_000,
        )
        after = page.inner_text("#rod-stress-value")
        assert after != before
        ms = float(page.get_attribute("#server-ms", "data-ms") or "0")
        assert ms > 0
        # drag the same screw's entry handle in the lateral view: the rod and mechanics change
        # again; then its tip handle: the trajectory turns and is checked on the CT
        evals = int(page.get_attribute("#mechanics", "data-evals") or "0")

        def drag(handle: str, dx: float, dy: float, n: int) -> None:
            node = page.locator(f"svg[data-view=lateral] circle[data-handle={handle}]").first
            box = node.bounding_box()
            assert box is not None
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + dx, y + dy, steps=5)
            page.mouse.up()
            page.wait_for_function(
                "n => document.querySelector('#mechanics').dataset.state === 'ready' && "
                "Number(document.querySelector('#mechanics').dataset.evals) >= n",
                arg=n,
                timeout=60_000,
            )

        drag("entry", 0, 10, evals + 1)
        assert page.inner_text("#rod-stress-value") != after
        first = page.locator("#screw-table tbody tr").first
        cranial = first.locator("td").nth(3).inner_text()
        drag("tip", 0, -15, evals + 2)
        assert (
            page.locator("#screw-table tbody tr").first.locator("td").nth(3).inner_text() != cranial
        )
        page.screenshot(path=shots / "05-screw-moved.png", full_page=True)
        page.fill("#version-note", "L4 entry 4 mm caudal")
        page.click("#save-plan")
        page.wait_for_selector("#save-plan[data-version='2']")

        # two versions side by side
        page.click("#tab-compare")
        page.wait_for_selector("#comparison table tbody tr")
        diffs = (
            page.locator("#comparison table")
            .first.locator("tbody tr td:first-child")
            .all_inner_texts()
        )
        assert any("entry_point" in d for d in diffs) and "rods" in diffs
        page.screenshot(path=shots / "06-compare.png", full_page=True)

        # healing and forecast plots, then the report
        page.click("#tab-outcome")
        page.wait_for_selector("#healing svg")
        assert page.locator("#forecast svg").count() >= 1
        page.screenshot(path=shots / "07-outcome.png", full_page=True)
        page.click("#tab-reports")
        with page.expect_popup() as popup:
            page.locator("a.report-link").first.click()
        report = popup.value
        report.wait_for_load_state()
        text = report.inner_text("body")
        assert "L4-L5" in text
        report.screenshot(path=shots / "08-report.png", full_page=False)
        page.click("#tab-images")
        page.wait_for_selector("#viewer-status:not(:empty)", timeout=60_000)
        page.screenshot(path=shots / "09-images.png")
        browser.close()
        assert not errors, errors
    assert len(list(shots.glob("*.png"))) == 9


def _fill_examination(page, case) -> None:  # type: ignore[no-untyped-def]
    """The sample patient's examination, typed into the form's grids."""
    exam = case.examination
    assert exam is not None
    if exam.side is not None:
        page.select_option("#f-exam_side", exam.side)
    for side, grades in exam.motor.items():
        for root, grade in grades.items():
            page.select_option(f"#f-motor_{side}_{root}", str(grade))
    for side, roots in exam.sensory_loss.items():
        for root in roots:
            page.check(f"#f-sensory_{side}_{root}")
    for reflex, sides in exam.reflexes.items():
        for side, grade in sides.items():
            page.select_option(f"#f-reflex_{reflex}_{side}", grade)
    for sign in ("straight_leg_raise", "femoral_stretch"):
        for side, value in getattr(exam, sign).items():
            page.select_option(f"#f-{sign}_{side}", value)
    for flag in exam.red_flags:
        page.check(f"input[name=red_flag][value={flag}]")


def _fill_mr_study(page, case, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """The sample patient's MR study: one row per series, then its label map."""
    (study,) = [s for s in case.imaging if s.modality == "MR"]
    for n, series in enumerate(study.series):
        if n:
            page.click("#add-mr-series")
        page.set_input_files(f"#f-mr_file_{n}", str(folder / series.nifti))
        page.select_option(f"#f-mr_weighting_{n}", series.weighting)
        if series.plane is not None:
            page.select_option(f"#f-mr_plane_{n}", series.plane)
        page.fill(f"#f-mr_description_{n}", series.description)
        for t in ("echo_time_ms", "repetition_time_ms"):
            if getattr(series, t) is not None:
                page.fill(f"#f-mr_{t}_{n}", str(getattr(series, t)))
    assert study.label_map is not None
    page.set_input_files("#f-mr_label_map", str(folder / study.label_map))
    page.select_option("#f-mr_label_convention", study.label_convention)


def _the_form_sent_the_case(page, base: str, case) -> None:  # type: ignore[no-untyped-def]
    """What the service stored from the form is the sample case: patient, history,
    examination, and the MR study's series with their details."""
    (stored,) = [c for c in page.request.get(base + "/api/cases").json() if c["case_id"] == case.id]
    record = stored["record"]
    for part in ("patient", "history", "examination"):
        want = getattr(case, part).model_dump(mode="json")
        assert record[part] == want, part
    (mr,) = [st for st in record["imaging"] if st["modality"] == "MR"]
    (study,) = [s for s in case.imaging if s.modality == "MR"]
    want_series = [s.model_dump(mode="json", exclude={"nifti", "dicom_dir"}) for s in study.series]
    got_series = [{k: v for k, v in s.items() if k != "file"} for s in mr["series"]]
    assert got_series == [
        {k: v for k, v in s.items() if v not in (None, "")} for s in want_series
    ], "the MR series' details differ from the case's"
    assert mr["label_convention"] == study.label_convention
