// The workstation UI is built into the Python package, so `pip install` ships it and nothing is
// fetched at run time.
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: {
    outDir: "../src/spinefuse/service/web",
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000,
    sourcemap: false,
  },
});
