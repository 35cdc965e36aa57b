// web_page.mjs: what the browser test's steps share (web_browser.mjs and the step modules next to
// it): its settings (WEB_TEST), pages that record every problem, login, the first view measured.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const cfg = JSON.parse(process.env.WEB_TEST);
const require = createRequire(join(cfg.modules, 'x.js'));
const { chromium } = require('playwright-core');
export const T = cfg.timeoutMs;
export const problems = []; // dialogs, page errors, console errors, CSP violations: all fail the test
// Console errors a step expects, which are then no problem: the browser's own "401" line while
// it checks expiry (status401), the "400"/"412" lines while it checks the policy form's refusals.
export const expected = { status401: false, refusal: false };

export const step = (s) => console.log(`web: ${s}`);

export async function newPage(browser) {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 800 } });
    // Injected by the browser itself (not inline script), so the CSP does not block it.
    await ctx.addInitScript(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const page = await ctx.newPage();
    page.on('dialog', (d) => {
        problems.push(`dialog: ${d.message()}`);
        d.dismiss().catch(() => {});
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
        if (m.type() !== 'error') return;
        if (expected.status401 && /status of 401/.test(m.text())) return;
        if (expected.refusal && /status of (400|412)/.test(m.text())) return;
        problems.push(`console: ${m.text()}`);
    });
    page.setDefaultTimeout(T);
    return { ctx, page };
}

// What the browser measured of the first view (the login form: the page paints nothing before
// it): its first contentful paint after navigation start, and the bytes of the document and its
// assets as they travelled (compressed) and decoded. Within the issue's budget: 300 KiB sent.
export async function measureFirstView(page) {
    await page.waitForSelector('form.login');
    // A paint entry is queued after the frame; give it a moment rather than racing it.
    await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, null, { timeout: 5000 }).catch(() => {});
    const v = await page.evaluate(() => {
        const files = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
            .filter((e) => !e.name.includes('/redfish/'));
        return {
            fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
            sent: files.reduce((n, e) => n + e.encodedBodySize, 0),
            decoded: files.reduce((n, e) => n + e.decodedBodySize, 0),
            files: files.length,
            connect: files[0].connectEnd - files[0].connectStart, // TCP and the TLS handshake
            lastByte: Math.max(...files.map((e) => e.responseEnd)), // the last asset's last byte
        };
    });
    assert.ok(v.sent > 0 && v.sent <= 300 * 1024, `first view ${v.sent} bytes sent: over the 300 KiB budget`);
    return v;
}
export const fmtView = (v) =>
    `first contentful paint (the login form) ${v.fcp == null ? 'n/a' : `${Math.round(v.fcp)} ms`} after navigation start; ` +
    `connection with TLS ${Math.round(v.connect)} ms, last asset byte at ${Math.round(v.lastByte)} ms; ` +
    `${v.files} files, ${(v.sent / 1024).toFixed(1)} KiB sent (${(v.decoded / 1024).toFixed(1)} KiB decoded)`;

// Logs in from the login form: the document's response, and the first view as measured.
export async function login(page, base, [user, pw]) {
    const resp = await page.goto(base + '/');
    const view = await measureFirstView(page);
    await page.fill('input[name=user]', user);
    await page.fill('input[name=password]', pw);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
    return { resp, view };
}

export const text = (page, sel) => page.locator(sel).innerText();
export const shot = (page, name) => page.screenshot({ path: join(cfg.shots, `web-${name}.png`), fullPage: true });

export async function checkClean(page) {
    const csp = await page.evaluate(() => window.__csp);
    assert.deepEqual(csp, [], 'CSP violations');
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'guest markup ran');
}

export function launch() {
    return chromium.launch({
        executablePath: cfg.chromium,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
}
