// Two-dimensional screw views that need no WebGL: the lateral (anterior-superior plane) and AP
// (right-superior plane) projections of the vertebrae (their surface outlines' bounding boxes)
// and the screws. Drag a screw's entry handle to move its entry point, its tip handle to turn
// its trajectory (the length is kept); onChange gets (screw index, entry, direction).
const NS = "http://www.w3.org/2000/svg";

export function schematic({ view, levels, plan, selected, onChange, width = 300, height = 420 }) {
  const ax = view === "lateral" ? 1 : 0; // horizontal axis: anterior (y) or right (x)
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "schematic");
  svg.dataset.view = view;
  const pts = [];
  const boxes = levels.map((lv) => {
    let lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < lv.vertices.length; i += 3) {
      for (let k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k], lv.vertices[i + k]);
        hi[k] = Math.max(hi[k], lv.vertices[i + k]);
      }
    }
    pts.push(lo, hi);
    return { name: lv.name || `#${lv.label}`, lo, hi };
  });
  for (const s of plan.screws) pts.push(s.entry_point);
  const h0 = Math.min(...pts.map((p) => p[ax])) - 10, h1 = Math.max(...pts.map((p) => p[ax])) + 10;
  const z0 = Math.min(...pts.map((p) => p[2])) - 10, z1 = Math.max(...pts.map((p) => p[2])) + 10;
  const scale = Math.min(width / (h1 - h0), height / (z1 - z0));
  // lateral: anterior to the left as radiologists show a lateral film of a patient facing left
  const H = (v) => (view === "lateral" ? width - (v - h0) * scale : (h1 - v) * scale);
  const V = (z) => height - (z - z0) * scale;
  const inv = (px, py) => [view === "lateral" ? h0 + (width - px) / scale : h1 - px / scale, z0 + (height - py) / scale];
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  el("text", { x: 6, y: 14, "font-size": 12, "font-weight": "bold" }, view === "lateral" ? "lateral" : "AP");
  for (const b of boxes) {
    const x = Math.min(H(b.lo[ax]), H(b.hi[ax]));
    el("rect", { x, y: V(b.hi[2]), width: Math.abs(H(b.hi[ax]) - H(b.lo[ax])), height: (b.hi[2] - b.lo[2]) * scale, fill: "#efe6d0", stroke: "#b9a97e" });
    el("text", { x: x + 2, y: V(b.hi[2]) + 11, "font-size": 10 }, b.name);
  }
  plan.screws.forEach((s, i) => {
    const e = s.entry_point, d = s.direction, n = s.length_mm;
    const t = [e[0] + n * d[0], e[1] + n * d[1], e[2] + n * d[2]];
    const colour = s.breach ? "#d0342c" : i === selected ? "#0288d1" : "#455a64";
    el("line", { x1: H(e[ax]), y1: V(e[2]), x2: H(t[ax]), y2: V(t[2]), stroke: colour, "stroke-width": Math.max(2, s.diameter_mm * scale) });
    for (const [which, p] of [["entry", e], ["tip", t]]) {
      const c = el("circle", { cx: H(p[ax]), cy: V(p[2]), r: 5, fill: which === "entry" ? colour : "#fff", stroke: colour, class: "handle" });
      c.dataset.screw = i;
      c.dataset.handle = which;
      c.dataset.label = `${s.vertebra}-${s.side}-${which}`;
    }
  });
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    const t = ev.target;
    if (!t.dataset || t.dataset.handle === undefined) return;
    drag = { i: Number(t.dataset.screw), handle: t.dataset.handle, node: t };
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const r = svg.getBoundingClientRect();
    drag.node.setAttribute("cx", ev.clientX - r.left);
    drag.node.setAttribute("cy", ev.clientY - r.top);
    drag.at = inv(ev.clientX - r.left, ev.clientY - r.top);
  });
  svg.addEventListener("pointerup", () => {
    if (!drag || !drag.at) {
      drag = null;
      return;
    }
    const s = plan.screws[drag.i];
    const e = [...s.entry_point];
    let d = [...s.direction];
    const n = s.length_mm;
    if (drag.handle === "entry") {
      e[ax] = drag.at[0];
      e[2] = drag.at[1];
    } else {
      const t = [e[0] + n * d[0], e[1] + n * d[1], e[2] + n * d[2]];
      t[ax] = drag.at[0];
      t[2] = drag.at[1];
      const v = [t[0] - e[0], t[1] - e[1], t[2] - e[2]];
      const len = Math.hypot(...v) || 1;
      d = v.map((x) => x / len);
    }
    const i = drag.i;
    drag = null;
    onChange(i, e, d);
  });
  return svg;
}
