// web_console_crash.mjs: the browser test's crash from the console (issue 13): the demo guest
// told to panic in the Console, its snapshot appearing in Crashes with no page reload, then its
// core downloaded by the browser and its SHA-256 compared with the agent's (web_browser.mjs).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';

const G = '[data-testid=system-guest]';

export async function consoleCrash(page, { base, step, shot }) {
    // The guest was powered off last: power it on from the overview, and bring it to the front
    // so that it runs and reads its console.
    await page.click('a[href="#/overview"]');
    await page.click(`${G} [data-testid=reset-On]`);
    await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid=state]`)?.textContent === 'running', G);
    const sess = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    const headers = { 'X-Auth-Token': sess.token, 'Content-Type': 'application/json' };
    const guest = await (await page.request.get(`${base}/redfish/v1/Systems/guest`, { headers })).json();
    if (!guest.Oem.Vigil.Foreground) {
        const r = await page.request.post(`${base}/redfish/v1/Systems/guest/Actions/Oem/Vigil.Switch`, { headers, data: {} });
        assert.equal(r.status(), 204);
    }
    // The snapshots there are before the crash, from the agent (the page's list may still be
    // loading): the crash's is the one row that is not among them.
    const dumps = await (await page.request.get(`${base}/redfish/v1/Managers/hv/LogServices/Dump/Entries`, { headers })).json();
    const before = dumps.Members.map((m) => `dump-${m['@odata.id'].split('/').pop()}`);
    assert.ok(before.length > 0, 'the earlier snapshots (the API one, the NMI crash) are listed');

    await page.click('a[href="#/console"]');
    await page.waitForFunction(() => /^writer/.test(document.querySelector('[data-testid=console-state]')?.textContent));
    await page.click('[data-testid=console] .xterm');
    await page.evaluate(() => (window.__sameDocument = 3));
    const t = Date.now();
    await page.keyboard.type('crash panic');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /crash: pvpanic/.test(document.querySelector('.xterm-rows')?.innerText || ''));
    step(`console: typed "crash panic", the guest's "crash: pvpanic" shown in ${Date.now() - t} ms`);

    // Crashes: the new snapshot appears, and its digest once hv has hashed it (SnapshotHashed),
    // both through the event stream: the page is never reloaded.
    await page.click('a[href="#/crashes"]');
    const id = await (await page.waitForFunction((old) => {
        const row = [...document.querySelectorAll('[data-testid^=dump-]')].find((e) => !old.includes(e.dataset.testid));
        // "pending" until hv has hashed the core (the agent answers 503 for its download then).
        return /^[0-9a-f]{64}$/.test(row?.querySelector('td.digest')?.title || '') ? row.dataset.testid : null;
    }, before)).jsonValue();
    assert.equal(await page.evaluate(() => window.__sameDocument), 3, 'the page reloaded');
    const trigger = await page.locator(`[data-testid=${id}]`).innerText();
    assert.match(trigger, /pvpanic/, `the new snapshot is the console's crash: ${trigger}`);
    step(`crashes: the console's crash listed with its digest ${Date.now() - t} ms after the Enter, no reload (${trigger.replace(/\s+/g, ' ').slice(0, 80)})`);
    await shot(page, 'crashes-console');

    const digest = await page.locator(`[data-testid=${id}] td.digest`).getAttribute('title');
    const td = Date.now();
    const answers = []; // what the agent answered for the attachment: named if the download fails
    const seen = (r) => /\/attachment/.test(r.url()) && answers.push(`${r.status()} ${r.headers()['content-length'] || ''}`);
    page.on('response', seen);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(`[data-testid=${id}] [data-testid=download]`).click()]);
    const failed = await dl.failure();
    page.off('response', seen);
    assert.equal(failed, null, `the core's download failed after ${Date.now() - td} ms (attachment answers: ${answers.join(', ') || 'none'})`);
    const core = readFileSync(await dl.path());
    const sum = createHash('sha256').update(core).digest();
    assert.ok([sum.toString('hex'), sum.toString('base64')].includes(digest), `core digest ${sum.toString('hex')} vs ${digest}`);
    step(`crashes: the console crash's core downloaded (${core.length} bytes in ${Date.now() - td} ms), SHA-256 equal to the listed one`);
}
