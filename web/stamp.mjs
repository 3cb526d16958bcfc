// Records the hash of the UI's sources beside the build, so a test can tell that the bundle the
// Python package ships is the one these sources build (see tests/service/test_web_bundle.py).
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL(".", import.meta.url).pathname;
const SOURCES = ["index.html", "package.json", "package-lock.json", "vite.config.js", "stamp.mjs", "src"];

function files(path) {
  const st = statSync(path);
  if (st.isFile()) return [path];
  return readdirSync(path).flatMap((name) => files(join(path, name)));
}

const all = SOURCES.flatMap((s) => files(join(root, s)))
  .map((p) => relative(root, p).split("\\").join("/"))
  .sort();
const outer = createHash("sha256");
for (const name of all) {
  const inner = createHash("sha256").update(readFileSync(join(root, name))).digest("hex");
  outer.update(`${name}\0${inner}\n`);
}
const out = join(root, "..", "src", "spinefuse", "service", "web", "build-stamp.json");
writeFileSync(out, JSON.stringify({ sources_sha256: outer.digest("hex"), files: all }, null, 1) + "\n");
console.log(`wrote ${out}`);
