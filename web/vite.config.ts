import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const webRoot = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

// The console imports a few pure modules (naming and mapping rules) from ../src, so the dev server may read them.
export default defineConfig({
  root: webRoot,
  base: '/',
  plugins: [react()],
  // The charting library (about 490 kB) is its own chunk, loaded with the dataflow page only.
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 600 },
  server: {
    fs: { allow: [repoRoot] },
    proxy: { '/api': process.env['TCA_CONSOLE_API'] ?? 'http://127.0.0.1:8080' },
  },
});
