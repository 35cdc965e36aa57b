// build.mjs: bundles web/src into build/web: content-hashed JS and CSS, an index.html that
// loads them (no inline script, so the agent's CSP can forbid it), and .gz/.br beside each file.
// Usage: node web/build.mjs NODE_MODULES_DIR OUT_DIR
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve, basename } from 'node:path';
import { gzipSync, brotliCompressSync, constants as zc } from 'node:zlib';

const [mods, outArg] = process.argv.slice(2);
if (!mods || !outArg) {
    console.error('usage: node web/build.mjs NODE_MODULES_DIR OUT_DIR');
    process.exit(2);
}
// node_modules lives in build/, keyed by the lockfile's hash, not in the work tree.
const require = createRequire(join(resolve(mods), 'x.js'));
const esbuild = require('esbuild');
const src = new URL('./src/', import.meta.url).pathname;
const out = resolve(outArg);
const tmp = out + '.tmp';
rmSync(tmp, { recursive: true, force: true });
mkdirSync(join(tmp, 'assets'), { recursive: true });

const res = await esbuild.build({
    entryPoints: [join(src, 'main.jsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    // Libraries a view imports with import() (xterm.js, uPlot) become chunks loaded on demand.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    nodePaths: [resolve(mods)],
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: join(tmp, 'assets'),
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
});
// The entry's script and its stylesheet (the CSS every module imports, lazy ones included).
const [entryOut, entry] = Object.entries(res.metafile.outputs).find(([, o]) => o.entryPoint?.endsWith('main.jsx'));
const js = basename(entryOut);
const css = basename(entry.cssBundle);
const html = readFileSync(join(src, 'index.html'), 'utf8')
    .replace('%CSS%', `assets/${css}`)
    .replace('%JS%', `assets/${js}`);
writeFileSync(join(tmp, 'index.html'), html);

// Pre-compressed siblings: the agent picks one by Accept-Encoding and never compresses itself.
let total = { raw: 0, gz: 0, br: 0 };
for (const rel of ['index.html', ...readdirSync(join(tmp, 'assets')).map((f) => `assets/${f}`)]) {
    const p = join(tmp, rel);
    const data = readFileSync(p);
    const gz = gzipSync(data, { level: 9 });
    const br = brotliCompressSync(data, { params: { [zc.BROTLI_PARAM_QUALITY]: 11 } });
    writeFileSync(p + '.gz', gz);
    writeFileSync(p + '.br', br);
    total.raw += data.length, total.gz += gz.length, total.br += br.length;
}
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log(`web: ${out}: ${total.raw} bytes, ${total.gz} gzip, ${total.br} brotli`);
