// Small SVG line plots (no plotting library needed for a few curves).
const NS = "http://www.w3.org/2000/svg";

export function linePlot({ title, xLabel, yLabel, series, width = 460, height = 240, yMax }) {
  const m = { l: 48, r: 12, t: 24, b: 36 };
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "plot");
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y.concat(s.lo || [], s.hi || []));
  const x0 = Math.min(...xs), x1 = Math.max(...xs);
  const y0 = 0, y1 = yMax ?? Math.max(...ys, 1e-9);
  const X = (x) => m.l + ((x - x0) / (x1 - x0 || 1)) * (width - m.l - m.r);
  const Y = (y) => height - m.b - ((y - y0) / (y1 - y0 || 1)) * (height - m.t - m.b);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
    return el;
  };
  add("text", { x: m.l, y: 16, "font-size": 13, "font-weight": "bold" }, title);
  add("line", { x1: m.l, y1: Y(y0), x2: width - m.r, y2: Y(y0), stroke: "#888" });
  add("line", { x1: m.l, y1: Y(y0), x2: m.l, y2: Y(y1), stroke: "#888" });
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    add("text", { x: m.l - 4, y: Y(v) + 4, "font-size": 10, "text-anchor": "end" }, v.toPrecision(2));
  }
  for (let i = 0; i <= 4; i++) {
    const v = x0 + ((x1 - x0) * i) / 4;
    add("text", { x: X(v), y: height - m.b + 14, "font-size": 10, "text-anchor": "middle" }, v.toFixed(0));
  }
  add("text", { x: width / 2, y: height - 4, "font-size": 11, "text-anchor": "middle" }, xLabel);
  add("text", { x: 10, y: m.t - 6, "font-size": 11 }, yLabel);
  const colours = ["#1d4e79", "#b03a2e", "#2e7d32", "#b7791f", "#6a1b9a"];
  series.forEach((s, k) => {
    const c = colours[k % colours.length];
    if (s.lo && s.hi) {
      const pts = s.x.map((x, i) => `${X(x)},${Y(s.hi[i])}`).concat(s.x.map((x, i) => `${X(x)},${Y(s.lo[i])}`).reverse());
      add("polygon", { points: pts.join(" "), fill: c, "fill-opacity": 0.15, stroke: "none" });
    }
    add("polyline", { points: s.x.map((x, i) => `${X(x)},${Y(s.y[i])}`).join(" "), fill: "none", stroke: c, "stroke-width": 2 });
    add("text", { x: width - m.r - 4, y: m.t + 12 * (k + 1), "font-size": 11, "text-anchor": "end", fill: c }, s.name);
  });
  return svg;
}
