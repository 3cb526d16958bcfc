// The spinefuse planning workstation in the browser: cases, images, label confirmation, the plan
// editor with live mechanics, healing and forecast, reports and plan comparison.
import "./style.css";
import { api, ApiError, followJob } from "./api.js";
import { linePlot } from "./plot.js";
import { schematic } from "./schematic.js";

const app = document.getElementById("app");
let me = null;

const h = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === "text") e.textContent = v;
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid instanceof Node ? kid : String(kid));
  return e;
};
const fmt = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const errorBox = () => h("div", { class: "error", id: "error" });
function showError(box, err) {
  box.textContent = err instanceof ApiError ? `${err.status}: ${err.message}` : String(err);
}

// --- sign in ---------------------------------------------------------------------------------
function loginScreen() {
  const err = errorBox();
  const user = h("input", { id: "username", autocomplete: "username" });
  const pass = h("input", { id: "password", type: "password", autocomplete: "current-password" });
  const form = h("form", { on: { submit: async (ev) => {
    ev.preventDefault();
    try {
      me = await api("/auth/login", { method: "POST", body: { username: user.value, password: pass.value } });
      location.hash = "#/cases";
      route();
    } catch (e) { showError(err, e); }
  } } }, h("label", { class: "field" }, "User ", user), h("label", { class: "field" }, "Password ", pass),
  h("button", { type: "submit", id: "login" }, "Sign in"));
  app.replaceChildren(h("section", { class: "card" }, h("h2", { text: "Sign in" }), form, err));
}

// --- case list and new case ---------------------------------------------------------------------
const SIDES2 = ["left", "right"];
const SIDES3 = ["left", "right", "bilateral"];
const MYOTOMES = ["L2", "L3", "L4", "L5", "S1"];
const DERMATOMES = ["L1", "L2", "L3", "L4", "L5", "S1"];
const MR_WEIGHTINGS = ["T2", "T1", "STIR", "PD"];
const PLANES = ["sagittal", "axial", "coronal"];
const CT_CONVENTIONS = ["totalseg_v2", "verse"];
const MR_CONVENTIONS = ["totalspineseg", "totalseg_mr", "totalseg_vertebrae_mr", "spineps", "verse"];
const RED_FLAGS = ["saddle_anaesthesia", "urinary_retention", "faecal_incontinence", "progressive_weakness", "fever", "weight_loss", "cancer_history", "trauma", "night_pain", "immunosuppression"];
const PATIENT_FLAGS = [["osteoporosis", "osteoporosis"], ["depression", "depression"], ["preop_opioid_use", "opioids before surgery"],
  ["workers_compensation", "workers' compensation"], ["nsaids_after_surgery", "NSAIDs after surgery"]];
const CARE = ["physiotherapy", "nsaids", "analgesics", "opioids", "epidural_injection", "facet_injection", "activity_modification", "bracing"];

async function casesScreen() {
  const list = h("tbody");
  const cases = await api("/cases");
  for (const c of cases) {
    list.append(h("tr", {}, h("td", {}, h("a", { href: `#/case/${c.id}`, class: "case-link" }, c.case_id)),
      h("td", { text: `${c.record.patient.age_years} y ${c.record.patient.sex}` }),
      h("td", { text: c.images.length }), h("td", { text: c.labels_confirmed ? `v${c.labels_confirmed}` : "no" }),
      h("td", { text: c.runs }), h("td", { text: c.created_at.slice(0, 16).replace("T", " ") })));
  }
  const table = h("table", { id: "case-list" }, h("thead", {}, h("tr", {}, ...["case", "patient", "images", "labels confirmed", "runs", "created"].map((t) => h("th", { text: t })))), list);
  app.replaceChildren(h("section", { class: "card" }, h("h2", { text: "Cases" }), cases.length ? table : h("p", { text: "No cases yet." })),
    me.role === "researcher" ? null : newCaseForm());
}

function newCaseForm() {
  const f = (name, attrs = {}) => h("input", { name, id: `f-${name}`, ...attrs });
  const sel = (name, opts) => h("select", { name, id: `f-${name}` }, ...opts.map((o) => h("option", { value: o, text: o })));
  const err = errorBox();
  const status = h("span", { class: "muted", id: "upload-status" });
  const care = CARE.map((c) => h("label", { class: "field" }, h("input", { type: "checkbox", name: "care", value: c }), c));
  const files = {
    nifti: f("ct_nifti", { type: "file", accept: ".nii,.nii.gz,.gz" }),
    dicom_zip: f("ct_dicom", { type: "file", accept: ".zip" }),
    label_map: f("label_map", { type: "file", accept: ".nii,.nii.gz,.gz" }),
    preop: f("xray_preop", { type: "file", accept: ".csv", multiple: true }),
    flexion: f("xray_flexion", { type: "file", accept: ".csv" }),
    extension: f("xray_extension", { type: "file", accept: ".csv" }),
    mr_label_map: f("mr_label_map", { type: "file", accept: ".nii,.nii.gz,.gz" }),
  };
  const mr = mrSeriesTable();
  const prior = priorSurgeryTable();
  const exam = examinationFields();
  const form = h("form", { id: "new-case" },
    h("h3", { text: "Patient" }),
    h("label", { class: "field" }, "Case id (pseudonymous) ", f("id", { required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}" })),
    h("label", { class: "field" }, "Age ", f("age_years", { type: "number", min: 18, max: 110, required: true })),
    h("label", { class: "field" }, "Sex ", sel("sex", ["female", "male"])),
    h("label", { class: "field" }, "Height cm ", f("height_cm", { type: "number", required: true })),
    h("label", { class: "field" }, "Weight kg ", f("weight_kg", { type: "number", required: true })),
    h("label", { class: "field" }, "Smoking ", sel("smoking", ["never", "former", "current"])),
    h("label", { class: "field" }, "DXA T-score ", f("t_score", { type: "number", step: 0.1 })),
    h("label", { class: "field" }, "Diabetes ", sel("diabetes", ["none", "non_insulin", "insulin"])),
    h("label", { class: "field" }, "ASA class ", sel("asa_class", ["2", "1", "3", "4", "5"])),
    h("div", {}, ...PATIENT_FLAGS.map(([name, text]) => h("label", { class: "field" }, f(name, { type: "checkbox" }), ` ${text}`))),
    prior.table, h("p", {}, prior.add),
    h("h3", { text: "History" }),
    h("label", { class: "field" }, "Back pain NRS ", f("back_pain_nrs", { type: "number", min: 0, max: 10, value: 0 })),
    h("label", { class: "field" }, "Leg pain NRS ", f("leg_pain_nrs", { type: "number", min: 0, max: 10, value: 0 })),
    h("label", { class: "field" }, f("claudication", { type: "checkbox" }), " neurogenic claudication"),
    h("label", { class: "field" }, "Symptoms (months) ", f("symptom_duration_months", { type: "number", min: 0, value: 0 })),
    h("label", { class: "field" }, "Conservative care (months) ", f("conservative_care_months", { type: "number", min: 0, value: 0 })),
    h("label", { class: "field" }, "ODI % ", f("odi", { type: "number", min: 0, max: 100 })),
    h("label", { class: "field" }, "Claudication distance m ", f("claudication_distance_m", { type: "number", min: 0 })),
    h("label", { class: "field" }, "Radiculopathy ", sel("radiculopathy_side", ["", ...SIDES3]), " root ", sel("radiculopathy_root", ["", ...MYOTOMES])),
    h("div", {}, ...care),
    exam.section,
    h("h3", { text: "Images" }),
    h("label", { class: "field" }, "CT NIfTI ", files.nifti), h("label", { class: "field" }, "or DICOM folder (zip) ", files.dicom_zip),
    h("label", { class: "field" }, "Label map ", files.label_map),
    h("label", { class: "field" }, "its convention ", sel("label_convention", CT_CONVENTIONS)),
    h("h4", { text: "MR study" }), mr.table, h("p", {}, mr.add),
    h("label", { class: "field" }, "MR label map ", files.mr_label_map),
    h("label", { class: "field" }, "its convention ", sel("mr_label_convention", MR_CONVENTIONS)),
    h("div", {}, h("label", { class: "field" }, "X-ray landmarks, standing (lateral, AP) ", files.preop),
      h("label", { class: "field" }, "flexion ", files.flexion), h("label", { class: "field" }, "extension ", files.extension)),
    h("p", {}, h("button", { type: "submit", id: "create-case" }, "Create case"), " ", status), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = (n) => form.elements[n].value;
    const num = (n) => (v(n) === "" ? null : Number(v(n)));
    const legNrs = num("leg_pain_nrs") || 0;
    const body = {
      id: v("id"),
      patient: { age_years: num("age_years"), sex: v("sex"), height_cm: num("height_cm"), weight_kg: num("weight_kg"), smoking: v("smoking"), t_score: num("t_score"),
        diabetes: v("diabetes"), asa_class: Number(v("asa_class")),
        ...Object.fromEntries(PATIENT_FLAGS.map(([name]) => [name, form.elements[name].checked])),
        prior_lumbar_surgery: prior.values() },
      history: { back_pain: (num("back_pain_nrs") || 0) > 0, back_pain_nrs: num("back_pain_nrs") || 0, leg_pain: legNrs > 0, leg_pain_nrs: legNrs,
        neurogenic_claudication: form.elements.claudication.checked, symptom_duration_months: num("symptom_duration_months") || 0,
        conservative_care: [...form.querySelectorAll("input[name=care]:checked")].map((c) => c.value),
        conservative_care_months: num("conservative_care_months") || 0, odi: num("odi"),
        claudication_distance_m: num("claudication_distance_m"),
        radiculopathy: v("radiculopathy_side") && v("radiculopathy_root") ? { side: v("radiculopathy_side"), root: v("radiculopathy_root") } : null },
      examination: exam.value(),
    };
    try {
      status.textContent = "creating…";
      const c = await api("/cases", { method: "POST", body });
      const uploads = [];
      const add = (input, kind, role, modality, details = {}) => { for (const file of input.files) uploads.push({ file, kind, role, modality, details }); };
      add(files.nifti, "nifti", "preop", "CT");
      add(files.dicom_zip, "dicom_zip", "preop", "CT");
      add(files.label_map, "label_map", "preop", "CT", conventionOf(v("label_convention"), "totalseg_v2"));
      for (const series of mr.values()) uploads.push(series);
      add(files.mr_label_map, "label_map", "preop", "MR", conventionOf(v("mr_label_convention"), "totalseg_v2"));
      add(files.preop, "xray_landmarks", "preop", "XR");
      add(files.flexion, "xray_landmarks", "flexion", "XR");
      add(files.extension, "xray_landmarks", "extension", "XR");
      let n = 0;
      for (const u of uploads) {
        status.textContent = `uploading ${++n}/${uploads.length}…`;
        const fd = new FormData();
        fd.append("kind", u.kind); fd.append("role", u.role); fd.append("modality", u.modality);
        for (const [k, val] of Object.entries(u.details)) fd.append(k, String(val));
        fd.append("file", u.file);
        await api(`/cases/${c.id}/images`, { method: "POST", form: fd });
      }
      location.hash = `#/case/${c.id}/labels`;
    } catch (e) { showError(err, e); status.textContent = ""; }
  });
  return h("section", { class: "card" }, h("h2", { text: "New case" }), form);
}

// A label map's convention goes with its upload only when it is not the API's default.
const conventionOf = (value, fallback) => (value && value !== fallback ? { label_convention: value } : {});

// A table the user grows one row at a time: ``cells(n)`` makes row n's inputs (each with its
// ``name``), ``read(get, row)`` turns a row into its value, or null for a row left empty.
function growingTable({ id, caption, headers, cells, addId, addText, read }) {
  const body = h("tbody");
  const addRow = () => body.append(h("tr", {}, ...cells(body.children.length).map((c) => h("td", {}, c))));
  addRow();
  const table = h("table", { id }, caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { text: t })))), body);
  const add = h("button", { type: "button", id: addId, on: { click: addRow } }, addText);
  const values = () => [...body.children].flatMap((row) => {
    const item = read((name) => row.querySelector(`[name=${name}]`).value, row);
    return item === null ? [] : [item];
  });
  return { table, add, values };
}

const options = (values, label = (o) => o) => values.map((o) => h("option", { value: o, text: label(o) }));

// Earlier lumbar operations, one row each: the procedure, its segments ("L4-L5, L5-S1") and
// how long ago.
function priorSurgeryTable() {
  return growingTable({
    id: "prior-surgery", caption: "Prior lumbar surgery", headers: ["procedure", "segments", "years ago"],
    addId: "add-prior-surgery", addText: "Add an operation",
    cells: (n) => [
      h("select", { name: "prior_procedure", id: `f-prior_procedure_${n}` }, ...options(["", "discectomy", "laminectomy", "fusion", "other"], (o) => o || "none")),
      h("input", { name: "prior_segments", id: `f-prior_segments_${n}`, placeholder: "L4-L5, L5-S1" }),
      h("input", { type: "number", name: "prior_years_ago", id: `f-prior_years_ago_${n}`, min: 0, step: "any" })],
    read: (get) => {
      if (!get("prior_procedure")) return null;
      const years = get("prior_years_ago");
      return { procedure: get("prior_procedure"), segments: get("prior_segments").split(/[,\s]+/).filter(Boolean), years_ago: years === "" ? null : Number(years) };
    },
  });
}

// The MR study, one row per series: its file (NIfTI, or a DICOM series as a zip), weighting and
// plane (read from the file when left empty), description and sequence times.
function mrSeriesTable() {
  const num = (name, n, attrs) => h("input", { type: "number", name, id: `f-${name}_${n}`, step: "any", min: 0, ...attrs });
  return growingTable({
    id: "mr-series", headers: ["file", "weighting", "plane", "description", "TE ms", "TR ms"],
    addId: "add-mr-series", addText: "Add a series",
    cells: (n) => [
      h("input", { type: "file", name: "mr_file", id: `f-mr_file_${n}`, accept: ".nii,.nii.gz,.gz,.zip" }),
      h("select", { name: "mr_weighting", id: `f-mr_weighting_${n}` }, ...options(MR_WEIGHTINGS)),
      h("select", { name: "mr_plane", id: `f-mr_plane_${n}` }, ...options(["", ...PLANES], (o) => o || "from the file")),
      h("input", { name: "mr_description", id: `f-mr_description_${n}`, maxlength: 256 }),
      num("mr_echo_time_ms", n, { max: 1000 }),
      num("mr_repetition_time_ms", n, { max: 20000 })],
    read: (get, row) => {
      const file = row.querySelector("[name=mr_file]").files[0];
      if (!file) return null;
      const details = { weighting: get("mr_weighting") };
      if (get("mr_plane")) details.plane = get("mr_plane");
      if (get("mr_description")) details.description = get("mr_description");
      for (const t of ["echo_time_ms", "repetition_time_ms"]) if (get(`mr_${t}`) !== "") details[t] = Number(get(`mr_${t}`));
      return { file, kind: /\.zip$/i.test(file.name) ? "dicom_zip" : "nifti", role: "preop", modality: "MR", details };
    },
  });
}

// The neurological examination of the legs: MRC grade per myotome and side, sensory loss per
// dermatome, reflexes, tension signs, the side of the leg symptoms and red flags. A field left
// empty was not recorded; with nothing recorded the case has no examination.
function examinationFields() {
  const pick = (id, opts) => h("select", { id: `f-${id}` }, ...["", ...opts].map((o) => h("option", { value: o, text: o === "" ? "–" : o })));
  const grid = (caption, rows, cols, cell) => h("table", {}, h("caption", { text: caption }), h("thead", {}, h("tr", {}, h("th"), ...cols.map((c) => h("th", { text: c })))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, h("th", { text: r.replaceAll("_", " ") }), ...cols.map((c) => h("td", {}, cell(r, c)))))));
  const side = pick("exam_side", SIDES3);
  const section = h("div", { id: "examination" }, h("h3", { text: "Examination" }),
    h("label", { class: "field" }, "Side of the leg symptoms ", side),
    h("div", { class: "exam-grids" },
      grid("Motor (MRC)", MYOTOMES, SIDES2, (r, c) => pick(`motor_${c}_${r}`, ["5", "4", "3", "2", "1", "0"])),
      grid("Sensory loss", DERMATOMES, SIDES2, (r, c) => h("input", { type: "checkbox", id: `f-sensory_${c}_${r}`, title: `sensory loss ${c} ${r}` })),
      grid("Reflexes", ["patellar", "achilles"], SIDES2, (r, c) => pick(`reflex_${r}_${c}`, ["absent", "reduced", "normal", "brisk"])),
      grid("Tension signs", ["straight_leg_raise", "femoral_stretch"], SIDES2, (r, c) => pick(`${r}_${c}`, ["positive", "negative"]))),
    h("div", {}, "Red flags ", ...RED_FLAGS.map((flag) => h("label", { class: "field" },
      h("input", { type: "checkbox", name: "red_flag", value: flag }), flag.replaceAll("_", " ")))));
  const val = (id) => section.querySelector(`#f-${id}`).value;
  const perSide = (make) => Object.fromEntries(SIDES2.map((c) => [c, make(c)]).filter(([, x]) => x !== null));
  const nonEmpty = (o) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== "" && !(typeof x === "object" && Object.keys(x).length === 0)));
  const value = () => {
    const exam = {
      side: val("exam_side") || null,
      motor: perSide((c) => nonEmpty(Object.fromEntries(MYOTOMES.map((r) => [r, val(`motor_${c}_${r}`) === "" ? "" : Number(val(`motor_${c}_${r}`))])))),
      sensory_loss: perSide((c) => { const d = DERMATOMES.filter((r) => section.querySelector(`#f-sensory_${c}_${r}`).checked); return d.length ? d : null; }),
      reflexes: nonEmpty(Object.fromEntries(["patellar", "achilles"].map((r) => [r, nonEmpty(Object.fromEntries(SIDES2.map((c) => [c, val(`reflex_${r}_${c}`)])))]))),
      straight_leg_raise: nonEmpty(Object.fromEntries(SIDES2.map((c) => [c, val(`straight_leg_raise_${c}`)]))),
      femoral_stretch: nonEmpty(Object.fromEntries(SIDES2.map((c) => [c, val(`femoral_stretch_${c}`)]))),
      red_flags: [...section.querySelectorAll("input[name=red_flag]:checked")].map((x) => x.value),
    };
    exam.motor = nonEmpty(exam.motor);
    const recorded = exam.side || exam.red_flags.length || ["motor", "sensory_loss", "reflexes", "straight_leg_raise", "femoral_stretch"].some((k) => Object.keys(exam[k]).length);
    return recorded ? exam : null;
  };
  return { section, value };
}

// --- one case ------------------------------------------------------------------------------------
const TABS = [["images", "Images"], ["labels", "Labels"], ["plan", "Plan"], ["outcome", "Healing & forecast"], ["reports", "Reports"], ["compare", "Compare plans"]];

async function caseScreen(id, tab) {
  const c = await api(`/cases/${id}`);
  const body = h("div", { id: "tab-body" });
  const tabs = h("div", { class: "tabs" }, ...TABS.map(([k, t]) => h("button", { type: "button", id: `tab-${k}`, class: k === tab ? "active" : "", on: { click: () => { location.hash = `#/case/${id}/${k}`; } } }, t)));
  app.replaceChildren(h("section", { class: "card" }, h("h2", {}, `Case ${c.case_id} `, h("span", { class: "muted", text: `${c.record.patient.age_years} y ${c.record.patient.sex}; ${c.images.length} images; labels ${c.labels_confirmed ? "confirmed v" + c.labels_confirmed : "not confirmed"}` })), tabs), body);
  const screens = { images: imagesTab, labels: labelsTab, plan: planTab, outcome: outcomeTab, reports: reportsTab, compare: compareTab };
  try { await screens[tab](c, body); } catch (e) { const err = errorBox(); body.append(err); showError(err, e); }
}

async function imagesTab(c, body) {
  const { showImages, setWindow } = await import("./viewer.js");
  const canvas = h("canvas", { class: "viewer", id: "slices" });
  const status = h("p", { class: "muted", id: "viewer-status" });
  const centre = h("input", { type: "number", id: "wl-centre", value: 500 }), width = h("input", { type: "number", id: "wl-width", value: 1500 });
  const canvas3d = h("canvas", { class: "viewer", id: "scene" });
  const status3d = h("p", { class: "muted" });
  body.append(h("section", { class: "card" }, h("h3", { text: "CT slices and labels" }),
    h("p", {}, "Window centre ", centre, " width ", width, " ", h("button", { type: "button", id: "wl-apply", on: { click: () => setWindow(nv, Number(centre.value), Number(width.value)) } }, "Apply"),
      " ", h("button", { type: "button", on: { click: () => { centre.value = 400; width.value = 1800; setWindow(nv, 400, 1800); } } }, "Bone"),
      " ", h("button", { type: "button", on: { click: () => { centre.value = 40; width.value = 400; setWindow(nv, 40, 400); } } }, "Soft tissue")),
    h("div", { style: "height:420px; position:relative" }, canvas), status),
  h("section", { class: "card" }, h("h3", { text: "3-D spine and implants" }), canvas3d, status3d));
  const nv = await showImages(canvas, c.id, status);
  await show3d(c, canvas3d, status3d, null);
}

async function show3d(c, canvas, status, plan, onDrag) {
  try {
    const { SpineScene } = await import("./scene.js");
    const spine = await api(`/cases/${c.id}/spine`);
    const scene = new SpineScene(canvas, onDrag || (() => {}));
    scene.setSpine(spine.levels);
    if (!plan) {
      const plans = await api(`/cases/${c.id}/plans`);
      plan = plans.length ? plans[plans.length - 1].plan : null;
    }
    if (plan) scene.setPlan(plan, null);
    status.textContent = "drag to turn the view; drag a screw to move its entry point";
    return scene;
  } catch (e) {
    status.textContent = `the 3-D view needs WebGL (${e.message || e}); the plan views below work without it`;
    return null;
  }
}

async function labelsTab(c, body) {
  const err = errorBox();
  const levels = await api(`/cases/${c.id}/levels`);
  const rows = levels.map((lv) => {
    const action = h("select", { class: "action", "data-label": lv.label }, ...["keep", "rename", "merge", "reject"].map((a) => h("option", { value: a, text: a })));
    const name = h("input", { class: "rename", size: 4, placeholder: "L4" });
    const into = h("select", { class: "into" }, h("option", { value: "" }, "–"), ...levels.filter((o) => o.label !== lv.label).map((o) => h("option", { value: o.label, text: o.name || `#${o.label}` })));
    const tr = h("tr", { "data-label": lv.label }, h("td", { class: "level-name", text: lv.name || "?" }), h("td", { text: lv.label }), h("td", { text: fmt(lv.volume_ml, 1) }),
      h("td", {}, ...lv.flags.map((f) => h("span", { class: `flag ${f.source}`, title: f.text, text: f.code }))), h("td", {}, action, " ", name, " ", into));
    tr.edit = () => ({ label: lv.label, action: action.value, name: action.value === "rename" ? name.value : null, into: action.value === "merge" && into.value ? Number(into.value) : null });
    return tr;
  });
  const run = h("div", { id: "run-area" });
  const confirm = h("button", { type: "button", id: "confirm-labels", on: { click: async () => {
    try {
      const v = await api(`/cases/${c.id}/labels`, { method: "POST", body: { edits: rows.map((r) => r.edit()).filter((e) => e.action !== "keep") } });
      confirm.textContent = `Labels confirmed (v${v.version})`;
      confirm.disabled = true;
      run.replaceChildren(runButton(c, "Run the pipeline on the confirmed labels", null));
    } catch (e) { showError(err, e); }
  } } }, "Confirm labels");
  body.append(h("section", { class: "card" }, h("h3", { text: "Levels as segmented (head to pelvis)" }),
    h("p", { class: "muted", text: "Check each level and its flags; rename, merge or reject before planning. The plan is made only on confirmed labels." }),
    h("table", { id: "levels" }, h("thead", {}, h("tr", {}, ...["level", "ID", "volume mL", "flags", "edit"].map((t) => h("th", { text: t })))), h("tbody", {}, ...rows)),
    me.role === "researcher" ? null : h("p", {}, confirm), run, err));
  if (c.labels_confirmed) run.append(runButton(c, "Run the pipeline", null));
}

function runButton(c, text, planVersion) {
  const bar = h("div", { class: "progress" }, h("div"));
  const state = h("span", { class: "muted", id: "job-state" });
  const err = errorBox();
  const button = h("button", { type: "button", class: "run-pipeline", on: { click: async () => {
    try {
      button.disabled = true;
      const r = await api(`/cases/${c.id}/runs`, { method: "POST", body: { seed: 0, plan_version: planVersion } });
      localStorage.setItem(`spinefuse-job-${c.id}`, r.job);
      const end = await followJob(r.job, (j) => { bar.firstChild.style.width = `${Math.round(j.progress * 100)}%`; state.textContent = `${j.status} ${j.stage}`; });
      state.textContent = end.status === "done" ? "done" : `${end.status}: ${end.message}`;
      state.dataset.status = end.status;
      button.disabled = false;
    } catch (e) { showError(err, e); button.disabled = false; }
  } } }, text);
  return h("p", {}, button, " ", bar, " ", state, err);
}

// --- the plan editor -------------------------------------------------------------------------
const TECHNIQUES = ["TLIF", "PLIF", "PLF", "ALIF", "LLIF"];
const GRAFTS = ["local_autograft", "iliac_crest_autograft", "allograft", "dbm", "ceramic", "rhbmp2"];
const SEGMENTS = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"];

async function planTab(c, body) {
  const plans = await api(`/cases/${c.id}/plans`);
  if (!plans.length) {
    body.append(h("section", { class: "card" }, h("p", { text: "No plan yet: confirm the labels and run the pipeline first." })));
    return;
  }
  const spine = await api(`/cases/${c.id}/spine`).catch(() => ({ levels: [] }));
  let current = plans[plans.length - 1];
  let plan = structuredClone(current.plan);
  let selected = 0;
  const err = errorBox();
  const mech = h("div", { id: "mechanics" });
  const screws = h("div", { id: "screws" });
  const views = h("div", { id: "schematics", style: "display:flex; gap:8px" });
  const timing = h("span", { class: "muted", id: "server-ms" });
  const versions = h("select", { id: "version" }, ...plans.map((p) => h("option", { value: p.version, text: `v${p.version} (${p.source}${p.note ? ": " + p.note : ""})` })));
  versions.value = current.version;
  versions.addEventListener("change", () => { current = plans.find((p) => p.version === Number(versions.value)); plan = structuredClone(current.plan); evaluate(); });
  const technique = h("select", { id: "technique" }, ...TECHNIQUES.map((t) => h("option", { value: t, text: t })));
  const graft = h("select", { id: "graft" }, ...GRAFTS.map((t) => h("option", { value: t, text: t })));
  const levelBoxes = SEGMENTS.map((s) => h("label", { class: "field" }, h("input", { type: "checkbox", value: s, class: "fuse" }), s));
  const canvas3d = h("canvas", { class: "viewer", id: "plan-scene", style: "height:360px" });
  const status3d = h("p", { class: "muted" });
  let scene = null;

  const sync = () => {
    technique.value = plan.technique;
    graft.value = plan.graft ? plan.graft.material : "local_autograft";
    for (const b of levelBoxes) b.firstChild.checked = plan.fuse_segments.includes(b.firstChild.value);
  };
  const show = (ev) => {
    plan = ev.plan;
    sync();
    timing.textContent = `mechanics re-run in ${ev.server_ms} ms (server)`;
    timing.dataset.ms = ev.server_ms;
    mech.replaceChildren(mechanicsTable(ev.summary));
    screws.replaceChildren(screwTable(plan, onEdit, (i) => { selected = i; draw(); }), implantTable(plan, onCage));
    draw();
  };
  const draw = () => {
    views.replaceChildren(
      schematic({ view: "lateral", levels: spine.levels, plan, selected, onChange: onDragged }),
      schematic({ view: "ap", levels: spine.levels, plan, selected, onChange: onDragged }));
    if (scene) scene.setPlan(plan, selected);
  };
  let pending = Promise.resolve();
  const evaluate = () => {
    pending = pending.then(async () => {
      try {
        mech.dataset.state = "busy";
        show(await api(`/cases/${c.id}/plans/evaluate`, { method: "POST", body: { plan } }));
        mech.dataset.evals = Number(mech.dataset.evals || 0) + 1;
        err.textContent = "";
      } catch (e) { showError(err, e); }
      mech.dataset.state = "ready";
    });
    return pending;
  };
  const onEdit = (i, field, value) => { plan.screws[i][field] = value; selected = i; evaluate(); };
  const onDragged = (i, entry, direction) => { plan.screws[i].entry_point = entry; plan.screws[i].direction = direction; selected = i; evaluate(); };
  const onCage = (i, field, value) => { plan.cages[i][field] = value; evaluate(); };
  const replan = async () => {
    try {
      mech.dataset.state = "busy";
      const fuse = levelBoxes.filter((b) => b.firstChild.checked).map((b) => b.firstChild.value);
      show(await api(`/cases/${c.id}/plans/replan`, { method: "POST", body: { fuse_segments: fuse, technique: technique.value, graft: graft.value } }));
    } catch (e) { showError(err, e); }
    mech.dataset.state = "ready";
  };
  const note = h("input", { id: "version-note", placeholder: "what changed" });
  const save = h("button", { type: "button", id: "save-plan", on: { click: async () => {
    try {
      const v = await api(`/cases/${c.id}/plans`, { method: "POST", body: { plan, parent_version: current.version, note: note.value } });
      save.textContent = `Saved as v${v.version}`;
      save.dataset.version = v.version;
      runArea.replaceChildren(runButton(c, `Run healing, forecast and reports on v${v.version}`, v.version));
    } catch (e) { showError(err, e); }
  } } }, "Save as new version");
  const runArea = h("div");
  body.append(h("section", { class: "card" }, h("h3", {}, "Plan ", versions),
    h("p", {}, "Fuse ", ...levelBoxes, " technique ", technique, " graft ", graft, " ", h("button", { type: "button", id: "replan", on: { click: replan } }, "Plan again")),
    h("div", { class: "grid2" }, h("div", {}, views, h("p", { class: "muted", text: "drag a screw's entry (filled) or tip (open) handle" })), h("div", {}, h("h4", {}, "Mechanics (hybrid protocol) ", timing), mech)),
    screws, me.role === "researcher" ? null : h("p", {}, note, " ", save), runArea, err),
  h("section", { class: "card" }, h("h3", { text: "3-D" }), canvas3d, status3d));
  sync();
  if (current.summary) show({ plan, summary: current.summary, server_ms: 0 });
  scene = await show3d(c, canvas3d, status3d, plan, (i, entry) => { plan.screws[i].entry_point = entry; selected = i; evaluate(); });
  await evaluate();
}

function numberInput(value, step, onChange, attrs = {}) {
  const i = h("input", { type: "number", step, value: Number(value).toFixed(1), ...attrs });
  i.addEventListener("change", () => onChange(Number(i.value)));
  return i;
}

function screwTable(plan, onEdit, onSelect) {
  const rows = plan.screws.map((s, i) => {
    const xyz = [0, 1, 2].map((k) => numberInput(s.entry_point[k], 0.5, (v) => { const e = [...s.entry_point]; e[k] = v; onEdit(i, "entry_point", e); }, { class: `entry-${"xyz"[k]}` }));
    const turn = (axis, deg) => () => onEdit(i, "direction", rotate(s.direction, axis, (deg * Math.PI) / 180, s.side));
    return h("tr", { "data-screw": `${s.vertebra}-${s.side}`, on: { click: () => onSelect(i) } },
      h("td", { text: `${s.vertebra} ${s.side}` }), h("td", {}, ...xyz),
      h("td", {}, `${fmt(s.medial_angle_deg)}° `, h("button", { type: "button", on: { click: turn("medial", 2) } }, "+"), h("button", { type: "button", on: { click: turn("medial", -2) } }, "−")),
      h("td", {}, `${fmt(s.cranial_angle_deg)}° `, h("button", { type: "button", on: { click: turn("cranial", 2) } }, "+"), h("button", { type: "button", on: { click: turn("cranial", -2) } }, "−")),
      h("td", {}, numberInput(s.diameter_mm, 0.5, (v) => onEdit(i, "diameter_mm", v), { class: "diameter" })),
      h("td", {}, numberInput(s.length_mm, 5, (v) => onEdit(i, "length_mm", v), { class: "length" })),
      h("td", { class: s.breach ? "breach" : "ok", text: s.breach ? `breach ${fmt(s.breach_mm)} mm` : `in bone (${fmt(s.breach_mm)} mm)` }),
      h("td", { text: `${fmt(s.mean_hu, 0)} HU, ${s.purchase || "–"}` }),
      h("td", { class: "muted", text: s.warnings.join("; ") }));
  });
  return h("table", { id: "screw-table" }, h("thead", {}, h("tr", {}, ...["screw", "entry x, y, z (mm)", "medial", "cranial", "Ø mm", "length mm", "breach check", "bone purchase", "notes"].map((t) => h("th", { text: t })))), h("tbody", {}, ...rows));
}

function rotate(d, axis, a, side) {
  // medial: about the superior axis, toward the midline; cranial: about the axis across the
  // screw and the superior axis, toward the head
  const [x, y, z] = d;
  if (axis === "medial") {
    const s = side === "right" ? 1 : -1;
    const c = Math.cos(a), n = Math.sin(a) * s;
    return [x * c + y * n, -x * n + y * c, z];
  }
  const horiz = Math.hypot(x, y) || 1;
  const el = Math.atan2(z, horiz) + a;
  return [(x / horiz) * Math.cos(el), (y / horiz) * Math.cos(el), Math.sin(el)];
}

function implantTable(plan, onCage) {
  const cages = plan.cages.map((c, i) => h("tr", {}, h("td", { text: `cage ${c.segment} (${c.material})` }),
    ...["width_mm", "depth_mm", "height_mm", "lordosis_deg"].map((f) => h("td", {}, `${f.replace("_", " ")} `, numberInput(c[f], 0.5, (v) => onCage(i, f, v), { class: `cage-${f}` })))));
  const rods = plan.rods.map((r) => h("tr", {}, h("td", { text: `rod ${r.side}` }), h("td", { text: `${r.material} ${r.diameter_mm} mm, ${fmt(r.length_mm, 0)} mm long` }), h("td", { text: `bends ${r.bend_angles_deg.map((b) => fmt(b)).join(", ")}°` })));
  return h("table", { id: "implant-table" }, h("tbody", {}, ...cages, ...rods));
}

function mechanicsTable(summary) {
  const rows = summary.segments.map((s) => h("tr", { class: s.role, "data-segment": s.segment },
    h("td", { text: s.segment }), h("td", { text: s.role }), h("td", { class: "rom", text: fmt(s.flexion_extension_deg, 2) }),
    h("td", { text: fmt(s.intact_flexion_extension_deg, 2) }), h("td", { text: fmt(s.lateral_bending_deg, 2) }), h("td", { text: fmt(s.axial_rotation_deg, 2) }),
    h("td", { class: "pressure", text: fmt(s.disc_pressure_mpa, 3) }), h("td", { text: fmt(s.intact_disc_pressure_mpa, 3) })));
  return h("div", {}, h("table", {}, h("thead", {}, h("tr", {}, ...["segment", "", "flex-ext °", "intact", "lat. bend °", "axial rot. °", "disc MPa", "intact"].map((t) => h("th", { text: t })))), h("tbody", {}, ...rows)),
    h("p", { id: "rod-stress" }, `rod stress (worst) `, h("b", { id: "rod-stress-value", text: fmt(summary.max_rod_stress_mpa, 1) }), ` MPa; safety factor ${fmt(summary.min_rod_safety_factor, 2)}`));
}

// --- healing, forecast, reports, comparison ----------------------------------------------------------
async function latestRun(c) {
  const runs = await api(`/cases/${c.id}/runs`);
  return runs.find((r) => r.finished && r.stages.includes("forecast")) || null;
}

async function outcomeTab(c, body) {
  const run = await latestRun(c);
  if (!run) { body.append(h("section", { class: "card" }, h("p", { text: "No finished run yet." }))); return; }
  const rec = await api(`/runs/${run.id}/records`);
  const heal = rec.healing, fc = rec.forecast;
  const healCard = h("section", { class: "card", id: "healing" }, h("h3", { text: `Healing (run ${run.id}${run.plan_version ? ", plan v" + run.plan_version : ""})` }));
  if (heal) {
    healCard.append(h("p", { text: `fusion probability at 6/12/24 months: ${Object.values(heal.fusion_probability).map((p) => (100 * p).toFixed(0) + " %").join(" / ")}; non-union ${(100 * heal.nonunion_probability).toFixed(0)} %; subsidence ${(100 * heal.subsidence_probability).toFixed(0)} %` }));
    for (const seg of heal.segments) {
      healCard.append(linePlot({ title: `${seg.segment}: bone fraction of the fusion mass`, xLabel: "months", yLabel: "share", yMax: 1,
        series: seg.regions.map((r) => ({ name: r.region, x: seg.months, y: r.bone_fraction_median, lo: r.bone_fraction_p10, hi: r.bone_fraction_p90 })) }));
      healCard.append(linePlot({ title: `${seg.segment}: probability fused`, xLabel: "months", yLabel: "probability", yMax: 1, series: [{ name: "fused", x: seg.months, y: seg.fusion_probability }] }));
    }
  }
  const fcCard = h("section", { class: "card", id: "forecast" }, h("h3", { text: "Forecast" }), h("p", { text: fc.message }));
  fcCard.append(h("table", {}, h("thead", {}, h("tr", {}, ...["risk", "horizon", "probability", "95 % interval"].map((t) => h("th", { text: t })))),
    h("tbody", {}, ...fc.risks.map((r) => h("tr", {}, h("td", { text: r.label }), h("td", { text: r.horizon }), h("td", { text: `${(100 * r.probability).toFixed(1)} %` }), h("td", { text: `${(100 * r.low).toFixed(1)}–${(100 * r.high).toFixed(1)} %` }))))));
  for (const p of fc.pro) fcCard.append(linePlot({ title: `${p.label} (${p.unit})`, xLabel: "months", yLabel: p.unit, series: [{ name: "median", x: p.months, y: p.median, lo: p.p5, hi: p.p95 }] }));
  body.append(healCard, fcCard);
}

async function reportsTab(c, body) {
  const runs = await api(`/cases/${c.id}/runs`);
  const rows = runs.map((r) => h("tr", {}, h("td", { text: `run ${r.id}` }), h("td", { text: r.plan_version ? `plan v${r.plan_version}` : "planner's plan" }), h("td", { text: r.status }),
    h("td", {}, r.finished ? [h("a", { href: `/api/runs/${r.id}/files/report.html`, target: "_blank", class: "report-link" }, "surgeon's report"), " · ",
      h("a", { href: `/api/runs/${r.id}/files/report.pdf`, download: "" }, "PDF"), " · ", h("a", { href: `/api/runs/${r.id}/files/patient.html`, target: "_blank" }, "patient's report"), " · ",
      h("a", { href: `/api/runs/${r.id}/files/patient.pdf`, download: "" }, "PDF")] : "–")));
  body.append(h("section", { class: "card" }, h("h3", { text: "Reports" }), h("table", { id: "reports" }, h("tbody", {}, ...rows))));
}

async function compareTab(c, body) {
  const plans = await api(`/cases/${c.id}/plans`);
  if (plans.length < 2) { body.append(h("section", { class: "card" }, h("p", { text: "Two plan versions are needed to compare." }))); return; }
  const pick = (id, v) => { const s = h("select", { id }, ...plans.map((p) => h("option", { value: p.version, text: `v${p.version}` }))); s.value = v; return s; };
  const a = pick("cmp-a", plans[0].version), b = pick("cmp-b", plans[plans.length - 1].version);
  const out = h("div", { id: "comparison" });
  const go = async () => {
    const r = await api(`/cases/${c.id}/plans/compare?a=${a.value}&b=${b.value}`);
    const diff = h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: "what" }), h("th", { text: `v${a.value}` }), h("th", { text: `v${b.value}` }))),
      h("tbody", {}, ...r.differences.map((d) => h("tr", {}, h("td", { text: d.what }), h("td", { text: JSON.stringify(d.a) }), h("td", { text: JSON.stringify(d.b) })))));
    out.replaceChildren(diff, h("div", { class: "grid2" }, h("div", {}, h("h4", { text: `v${a.value}` }), r.a.summary ? mechanicsTable(r.a.summary) : "–"), h("div", {}, h("h4", { text: `v${b.value}` }), r.b.summary ? mechanicsTable(r.b.summary) : "–")));
  };
  body.append(h("section", { class: "card" }, h("h3", { text: "Two plan versions side by side" }), h("p", {}, a, " vs ", b, " ", h("button", { type: "button", id: "compare", on: { click: go } }, "Compare")), out));
  await go();
}

// --- routing -------------------------------------------------------------------------------------
async function route() {
  if (!me) {
    try { me = await api("/auth/me"); } catch { me = null; }
  }
  document.getElementById("nav").hidden = !me;
  if (!me) { loginScreen(); return; }
  document.getElementById("whoami").textContent = `${me.username} (${me.role})`;
  const m = location.hash.match(/^#\/case\/(\d+)(?:\/(\w+))?/);
  try {
    if (m) await caseScreen(Number(m[1]), m[2] || "images");
    else await casesScreen();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { me = null; loginScreen(); return; }
    const err = errorBox(); app.replaceChildren(err); showError(err, e);
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" }).catch(() => {});
  me = null;
  location.hash = "";
  route();
});
window.addEventListener("hashchange", route);
route();
