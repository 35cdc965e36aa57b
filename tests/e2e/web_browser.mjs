// web_browser.mjs: the dashboard in a real browser (Debian's chromium through playwright-core),
// run by test_web.py with its settings in WEB_TEST (JSON); prints one line per step and exits
// nonzero with the reason on the first failure.  What the steps share is web_page.mjs; the CSV
// export, the policy form and the console crash are steps of their own (web_*.mjs).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { consoleCrash } from './web_console_crash.mjs';
import { INJECTED, checkCsv } from './web_csv.mjs';
import { T, cfg, checkClean, expected, fmtView, launch, login, measureFirstView, newPage, problems, shot, step, text } from './web_page.mjs';
import { policyForm } from './web_policy.mjs';

async function admin(browser) {
    const { ctx, page } = await newPage(browser);
    const t0 = Date.now();
    const { resp, view } = await login(page, cfg.base, cfg.admin);
    const h = resp.headers();
    assert.match(h['content-security-policy'] || '', /default-src 'self'/);
    assert.doesNotMatch(h['content-security-policy'], /unsafe-inline/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['cache-control'], 'no-cache');
    await page.waitForSelector('[data-testid=system-guest]');
    await page.waitForSelector('[data-testid=system-service]');
    step(`native agent: ${fmtView(view)}`);
    step(`logged in as ${cfg.admin[0]}, overview with guest and service in ${Date.now() - t0} ms`);
    assert.equal(await page.evaluate(() => document.cookie), '', 'no cookies');

    // Switch the foreground to the other VM and back; the overview shows each change.
    for (let i = 0; i < 2; i++) {
        const fg = (await text(page, '[data-testid=system-guest] [data-testid=foreground]')) ? 'guest' : 'service';
        const other = fg === 'guest' ? 'service' : 'guest';
        const t = Date.now();
        await page.click(`[data-testid=system-${other}] [data-testid=switch]`);
        await page.waitForFunction(
            (o) => document.querySelector(`[data-testid=system-${o}] [data-testid=foreground]`)?.textContent === 'foreground',
            other, { timeout: T });
        step(`switched ${fg} -> ${other}: overview changed in ${Date.now() - t} ms`);
        if (i === 0) await shot(page, 'overview');
    }

    // Live: a switch made over the API (not in this page) shows up through the event stream,
    // with no reload and no polling; so does a crash snapshot in the Crashes view.
    await page.waitForFunction(() => document.querySelector('[data-testid=live]')?.textContent.includes('live'));
    await page.evaluate(() => (window.__sameDocument = 1));
    const tok = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')).token);
    const auth = { 'X-Auth-Token': tok, 'Content-Type': 'application/json' };
    for (let i = 0; i < 2; i++) {
        const fg = (await text(page, '[data-testid=system-guest] [data-testid=foreground]')) ? 'guest' : 'service';
        const other = fg === 'guest' ? 'service' : 'guest';
        const t = Date.now();
        const r = await ctx.request.post(`${cfg.base}/redfish/v1/Systems/${other}/Actions/Oem/Vigil.Switch`, { headers: auth, data: {} });
        assert.equal(r.status(), 204);
        await page.waitForFunction(
            (o) => document.querySelector(`[data-testid=system-${o}] [data-testid=foreground]`)?.textContent === 'foreground',
            other, { timeout: T });
        step(`switch over the API ${fg} -> ${other}: the overview followed the event stream in ${Date.now() - t} ms`);
    }
    await page.click('a[href="#/crashes"]');
    await page.waitForSelector('[data-testid=dumps]');
    const dumpsBefore = await page.locator('[data-testid^=dump-]').count();
    const t = Date.now();
    const snap = await ctx.request.post(`${cfg.base}/redfish/v1/Systems/guest/Actions/Oem/Vigil.Snapshot`, { headers: auth, data: {} });
    assert.equal(snap.status(), 202);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid^=dump-]').length === n + 1, dumpsBefore);
    step(`a snapshot taken over the API appeared in Crashes in ${Date.now() - t} ms`);
    assert.equal(await page.evaluate(() => window.__sameDocument), 1, 'the page reloaded');
    await page.click('a[href="#/overview"]');
    await page.waitForSelector('[data-testid=system-guest]');

    // Disturbing actions ask first; cancelling sends nothing.
    const before = await text(page, '[data-testid=system-guest] [data-testid=state]');
    await page.click('[data-testid=system-guest] [data-testid=reset-Nmi]');
    await page.waitForSelector('[role=dialog]');
    await page.click('[data-testid=confirm-no]');
    assert.equal(await page.locator('[role=dialog]').count(), 0);
    assert.equal(await text(page, '[data-testid=system-guest] [data-testid=state]'), before);
    step('NMI asks for confirmation; cancel sends nothing');

    // The SEL: small pages, followed by nextLink to the end; filters; CSV. hv keeps no control
    // characters in the SEL and prefixes what others add ("agent: "), so a message that starts
    // with '=' and holds a newline cannot come from the agent: one is put into the agent's answer
    // on its way to the page (the entry test_web.py added as INJECT_PROBE), as a hostile source
    // would write it.
    await page.route((u) => u.pathname === '/redfish/v1/Managers/hv/LogServices/SEL/Entries', async (route) => {
        const resp = await route.fetch();
        const body = await resp.json();
        for (const e of body.Members || []) if (e.Message?.includes(cfg.injectProbe)) e.Message = INJECTED;
        await route.fulfill({ response: resp, json: body });
    });
    await page.click('a[href="#/events"]');
    await page.waitForSelector('[data-testid=sel-row]');
    await page.selectOption('[data-testid=page-size]', '10');
    await page.waitForFunction(() => /^10 shown, 10 loaded of \d+/.test(document.querySelector('[data-testid=count]')?.textContent));
    const total = +(await text(page, '[data-testid=count]')).match(/of (\d+)/)[1];
    assert.ok(total > 10, `the SEL has ${total} entries; more than a page is needed`);
    await page.click('[data-testid=all]');
    // Entries may still arrive meanwhile (hv logs the API snapshot's hash when it is done, late
    // on a slow machine): every one loaded, however many there are by then.
    const all = await (await page.waitForFunction((n) => {
        const m = document.querySelector('[data-testid=count]')?.textContent.match(/^(\d+) shown, (\d+) loaded of (\d+)$/);
        return m && m[1] === m[2] && m[2] === m[3] && +m[3] >= n ? +m[3] : null;
    }, total)).jsonValue();
    assert.equal(await page.locator('[data-testid=more]').count(), 0);
    step(`SEL: ${all} entries in pages of 10, all loaded by following nextLink`);
    await shot(page, 'events');
    await page.fill('[data-testid=filter]', 'switch');
    const rows = await page.locator('[data-testid=sel-row] td.msg').allInnerTexts();
    assert.ok(rows.length > 0 && rows.length < total, `text filter left ${rows.length}`);
    assert.ok(rows.every((r) => /switch/i.test(r)), 'text filter');
    await page.fill('[data-testid=filter]', '');
    await page.selectOption('[data-testid=severity]', 'OK');
    const sevs = await page.locator('[data-testid=sel-row] td:nth-child(3)').allInnerTexts();
    assert.ok(sevs.length > 0 && sevs.every((s) => s === 'OK'), 'severity filter');
    step(`filters: ${rows.length} rows match "switch", ${sevs.length} are OK`);
    await checkCsv(page);
    await page.unroute((u) => u.pathname === '/redfish/v1/Managers/hv/LogServices/SEL/Entries');
    // With every page loaded, a new SEL entry (a switch made over the API) is appended live.
    await page.selectOption('[data-testid=severity]', '');
    const rowsBefore = await page.locator('[data-testid=sel-row]').count();
    const fgNow = (await (await ctx.request.get(`${cfg.base}/redfish/v1/Systems/guest`, { headers: auth })).json()).Oem.Vigil.Foreground;
    const tsel = Date.now();
    const sw = await ctx.request.post(`${cfg.base}/redfish/v1/Systems/${fgNow ? 'service' : 'guest'}/Actions/Oem/Vigil.Switch`, { headers: auth, data: {} });
    assert.equal(sw.status(), 204);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=sel-row]').length > n, rowsBefore);
    const lastRow = await page.locator('[data-testid=sel-row] td.msg').last().innerText();
    assert.match(lastRow, /switched to the foreground/);
    step(`Event log: the switch's SEL entry appended live in ${Date.now() - tsel} ms`);

    // The console: the guest in front (so it runs), the scrollback, then a typed command's answer.
    const guestNow = await (await ctx.request.get(`${cfg.base}/redfish/v1/Systems/guest`, { headers: auth })).json();
    if (!guestNow.Oem.Vigil.Foreground) {
        const front = await ctx.request.post(`${cfg.base}/redfish/v1/Systems/guest/Actions/Oem/Vigil.Switch`, { headers: auth, data: {} });
        assert.equal(front.status(), 204);
    }
    const tc = Date.now();
    await page.click('a[href="#/console"]');
    await page.waitForFunction(() => /^writer/.test(document.querySelector('[data-testid=console-state]')?.textContent));
    await page.waitForFunction(() => /Vigil demo guest/.test(document.querySelector('.xterm-rows')?.innerText));
    step(`console: attached as the writer with the scrollback in ${Date.now() - tc} ms`);
    await page.click('[data-testid=console] .xterm');
    const te = Date.now();
    await page.keyboard.type('status');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /demo: heartbeats/.test(document.querySelector('.xterm-rows')?.innerText));
    step(`console: typed "status", the guest answered in ${Date.now() - te} ms`);
    await shot(page, 'console');
    await resetAndNmi(page);
    await consoleCrash(page, { base: cfg.base, step, shot });

    // Sensors: the thresholds read once, then readings from the event stream (the agent's
    // SensorReadings every 5 s), with no request of the page's own for them.
    const sensorReads = [];
    const watch = (rq) => /\/Chassis\/vigil\/(Thermal|Power|Sensors)/.test(rq.url()) && sensorReads.push(rq.url());
    await page.click('a[href="#/sensors"]');
    await page.waitForSelector('[data-testid=sensor-row]');
    const nsensors = await page.locator('[data-testid=sensor-row]').count();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=plot] canvas').length === n, nsensors);
    page.on('request', watch);
    const readings = async () => +(await page.getAttribute('[data-testid=sensors]', 'data-readings'));
    const r0 = await readings();
    const ts = Date.now();
    await page.waitForFunction((n) => +document.querySelector('[data-testid=sensors]').dataset.readings >= n + 2, r0, { timeout: T + 12000 });
    page.off('request', watch);
    assert.deepEqual(sensorReads, [], 'the page asked for sensor readings itself');
    step(`sensors: ${nsensors} readings, each plotted with its thresholds; 2 more readings came by the event stream in ${Date.now() - ts} ms, no request of the page's`);
    await shot(page, 'sensors');

    await policyForm(page, ctx);

    // An expired session (here: ended behind the page's back) sends the page to the login form.
    const sess = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    const gone = await ctx.request.delete(cfg.base + sess.location, { headers: { 'X-Auth-Token': sess.token } });
    assert.equal(gone.status(), 204);
    expected.status401 = true;
    await page.click('[data-testid=refresh]');
    await page.waitForSelector('form.login');
    assert.match(await text(page, 'form.login'), /expired/);
    expected.status401 = false;
    step('an expired session returns to the login form');

    // Log in again, then out: the token is forgotten and no longer accepted.
    await login(page, cfg.base, cfg.admin);
    const s2 = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    await page.click('[data-testid=logout]');
    await page.waitForSelector('form.login');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('vigil.session')), null);
    const after = await ctx.request.get(cfg.base + '/redfish/v1/Systems', { headers: { 'X-Auth-Token': s2.token } });
    assert.equal(after.status(), 401);
    step('log out: the token is gone from the page and refused by the agent');
    await checkClean(page);
    await ctx.close();
}

// Reset and NMI from the overview (the guest running in front): each asks first; what follows
// arrives through the event stream (the page reloads the view on an event, not after the click).
async function resetAndNmi(page) {
    const g = '[data-testid=system-guest]';
    const uptime = () => page.evaluate((sel) => document.querySelector(`${sel} [data-testid=uptime]`)?.dataset.seconds, g);
    await page.click('a[href="#/overview"]');
    await page.waitForFunction((sel) => +document.querySelector(`${sel} [data-testid=uptime]`)?.dataset.seconds >= 3, g);
    const before = +(await uptime());
    await page.evaluate(() => (window.__sameDocument = 2));
    await page.click(`${g} [data-testid=reset-ForceRestart]`);
    await page.waitForSelector('[role=dialog]');
    const t = Date.now();
    await page.click('[data-testid=confirm-yes]');
    await page.waitForFunction(
        ([sel, b]) => {
            const row = document.querySelector(sel);
            const up = row?.querySelector('[data-testid=uptime]')?.dataset.seconds;
            return up !== '' && +up < b && row.querySelector('[data-testid=state]')?.textContent === 'running';
        },
        [g, before]);
    step(`reset: the guest's uptime went from ${before} s to ${await uptime()} s, shown ${Date.now() - t} ms after the confirmation`);
    // The demo guest's NMI handler reports a panic; the policy (guest_panic: freeze) stops it.
    await page.click(`${g} [data-testid=reset-Nmi]`);
    await page.waitForSelector('[role=dialog]');
    const tn = Date.now();
    await page.click('[data-testid=confirm-yes]');
    await page.waitForFunction((sel) => /NMI/.test(document.querySelector(`${sel} [data-testid=state]`)?.textContent), g);
    const state = await text(page, `${g} [data-testid=state]`);
    assert.equal(await page.locator(`${g} [data-testid=reset-Nmi]`).count(), 0, 'NMI offered for a stopped VM');
    assert.equal(await page.evaluate(() => window.__sameDocument), 2, 'the page reloaded');
    step(`NMI: the guest reported it and stopped ("${state}"), shown ${Date.now() - tn} ms after the confirmation`);
    await shot(page, 'overview-nmi');
    // Power on boots the crashed guest afresh (once hv has written its crash core: until then the
    // agent refuses, 409); power off asks first and halts it.
    const sess = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    const headers = { 'X-Auth-Token': sess.token };
    for (let i = 0; ; i++) {
        const g2 = await (await page.request.get(`${cfg.base}/redfish/v1/Systems/guest`, { headers })).json();
        if (!g2.Oem.Vigil.SnapshotWriting) break;
        assert.ok(i < T / 100, 'the crash core was never written');
        await new Promise((r) => setTimeout(r, 100));
    }
    const tp = Date.now();
    await page.click(`${g} [data-testid=reset-On]`);
    await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid=state]`)?.textContent === 'running', g);
    step(`power on: the crashed guest runs again, shown ${Date.now() - tp} ms after the click`);
    await page.click(`${g} [data-testid=reset-ForceOff]`);
    await page.waitForSelector('[role=dialog]');
    const to = Date.now();
    await page.click('[data-testid=confirm-yes]');
    await page.waitForFunction((sel) => document.querySelector(`${sel} [data-testid=state]`)?.textContent === 'halted (powered off by an operator)', g);
    assert.equal(await text(page, `${g} [data-testid=uptime]`), '', 'a halted VM shows an uptime');
    assert.equal(await page.evaluate(() => window.__sameDocument), 2, 'the page reloaded');
    step(`power off: the guest halted, shown ${Date.now() - to} ms after the confirmation`);
}

async function readonly(browser) {
    const { ctx, page } = await newPage(browser);
    await login(page, cfg.base, cfg.readonly);
    await page.waitForSelector('[data-testid=system-guest]');
    assert.equal(await page.locator('[data-testid=switch]').count(), 0, 'ReadOnly sees a switch button');
    assert.equal(await page.locator('td.actions button').count(), 0, 'ReadOnly sees action buttons');
    const sess = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    const r = await ctx.request.post(cfg.base + '/redfish/v1/Systems/guest/Actions/Oem/Vigil.Switch', {
        headers: { 'X-Auth-Token': sess.token, 'Content-Type': 'application/json' }, data: {} });
    assert.equal(r.status(), 403, 'the agent refuses ReadOnly anyway');
    await page.click('a[href="#/crashes"]');
    await page.waitForSelector('[data-testid=dumps]');
    assert.equal(await page.locator('[data-testid=delete]').count(), 0);
    step('ReadOnly: no action buttons; the agent answers its switch with 403');
    await page.click('a[href="#/policy"]');
    await page.waitForSelector('[data-testid=readonly]');
    assert.equal(await page.locator('[data-testid=save]').count(), 0, 'ReadOnly sees Save');
    assert.ok(await page.locator('[data-testid=event-triple_fault]').isDisabled(), 'ReadOnly can edit the policy');
    step('ReadOnly: the policy is shown read-only');
    await page.click('a[href="#/console"]');
    await page.waitForFunction(() => document.querySelector('[data-testid=console-state]')?.textContent === 'view only');
    assert.equal(await page.locator('[data-testid=takeover]').count(), 0, 'ReadOnly may take over typing');
    step('ReadOnly: the console is view only, with no take-over button');
    await checkClean(page);
    await ctx.close();
}

async function xss(browser) {
    const { ctx, page } = await newPage(browser);
    await login(page, cfg.xssBase, cfg.admin);
    await page.waitForSelector('[data-testid=system-guest]');
    const noMarkup = async () => assert.equal(await page.locator('main img, main script').count(), 0, 'markup became elements');
    await noMarkup();
    await page.click('a[href="#/crashes"]');
    await page.waitForSelector('[data-testid^=dump-]');
    await noMarkup();
    // Details: the frozen registers read from the core (Range requests), and the SEL around the
    // crash, where the panic's markup is text.
    const rip = await page.locator('[data-testid^=dump-] td.mono').first().innerText();
    await page.locator('[data-testid=details]').first().click();
    await page.waitForSelector('[data-testid=regs] [data-reg=rip] dd');
    const coreRip = await page.locator('[data-testid=regs] [data-reg=rip] dd').first().innerText();
    assert.equal(BigInt(coreRip), BigInt(rip), `the core's rip ${coreRip}, the entry's ${rip}`);
    assert.ok(await page.locator('[data-testid=regs] [data-reg=cr3]').count() > 0, 'no cr3 from the QEMU note');
    await page.waitForSelector('[data-testid=sel-around] td.msg');
    const around = await page.locator('[data-testid=sel-around] td.msg').allTextContents();
    assert.ok(around.some((m) => m.includes(cfg.markup)), `the SEL around the crash: ${around.join(' | ')}`);
    await noMarkup();
    step(`crash details: vCPU registers from the core (rip ${coreRip} as the entry says), ${around.length} SEL entries around it, the panic's markup as text`);
    await shot(page, 'crashes');
    // Download the core; its SHA-256 is the one the agent lists. Then delete it.
    const tdl = Date.now();
    const digest = await page.locator('[data-testid^=dump-] td.digest').first().getAttribute('title');
    const scripted = []; // the attachment read by the page's own script: must not happen
    page.on('request', (rq) => {
        if (/\/attachment/.test(rq.url()) && ['fetch', 'xhr'].includes(rq.resourceType())) scripted.push(rq.url());
    });
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download]').first().click()]);
    const core = readFileSync(await dl.path());
    const sum = createHash('sha256').update(core).digest();
    assert.ok([sum.toString('hex'), sum.toString('base64')].includes(digest), `core digest ${sum.toString('hex')} vs ${digest}`);
    assert.match(dl.url(), /\/attachment\?ticket=[0-9a-f]{64}$/, 'the download is the ticket URL');
    assert.deepEqual(scripted, [], 'the page fetched the core itself');
    // The ticket the browser used is spent: the same URL again (no credentials) is refused.
    expected.status401 = true;
    const again = await ctx.request.get(dl.url());
    assert.equal(again.status(), 401, 'a used ticket was accepted again');
    const refusal = await again.json();
    const why = refusal.error?.['@Message.ExtendedInfo']?.[0]?.Message || refusal.error?.message;
    assert.match(why, /ticket/, 'the refusal names the ticket');
    expected.status401 = false;
    await page.locator('[data-testid=delete]').first().click();
    await page.click('[data-testid=confirm-yes]');
    await page.waitForFunction(() => !document.querySelector('[data-testid^=dump-]'));
    step(`crash core downloaded by the browser through a ticket (${core.length} bytes in ${Date.now() - tdl} ms, SHA-256 as listed), the ticket refused a second time ("${why}"), then deleted`);
    // The panic message reaches the SEL (the Dump entry names only the trap).
    await page.click('a[href="#/events"]');
    await page.waitForSelector('[data-testid=sel-row]');
    await page.fill('[data-testid=filter]', 'onerror');
    const rows = await page.locator('[data-testid=sel-row] td.msg').allInnerTexts();
    assert.ok(rows.some((r) => r.includes(cfg.markup)), `the SEL shows the markup as text: ${rows}`);
    await noMarkup();
    step(`guest markup shown as text in the Event log (${rows.length} rows), no element made of it, nothing ran`);
    // The guest printed the same markup on its console: the terminal shows it as characters.
    await page.click('a[href="#/console"]');
    await page.waitForFunction(() => /<img src=x onerror=/.test(document.querySelector('.xterm-rows')?.innerText));
    await noMarkup();
    step('guest markup on the console is shown by the terminal as text; nothing ran');
    await checkClean(page);
    await ctx.close();
}

// The dashboard from the service VM: first paint of the login form, login, the overview.
async function smoke(browser) {
    const { ctx, page } = await newPage(browser);
    await page.goto(cfg.base + '/');
    step(`service VM: ${fmtView(await measureFirstView(page))}`);
    const t1 = Date.now();
    await login(page, cfg.base, cfg.admin);
    await page.waitForSelector('[data-testid=system-guest]');
    step(`service VM: logged in to the overview in ${Date.now() - t1} ms`);
    await checkClean(page);
    await ctx.close();
}

// bench/web.py: cfg.paint cold first views (a new browser context each: no cache), each then
// logged in to the overview; one JSON line with every run's numbers.
async function paint(browser) {
    const runs = [];
    for (let i = 0; i < cfg.paint; i++) {
        const { ctx, page } = await newPage(browser);
        await page.goto(cfg.base + '/');
        const v = await measureFirstView(page);
        const t = Date.now();
        await page.fill('input[name=user]', cfg.admin[0]);
        await page.fill('input[name=password]', cfg.admin[1]);
        await page.click('button[type=submit]');
        await page.waitForSelector('[data-testid=system-guest]');
        runs.push({ fcp_ms: v.fcp, connect_ms: v.connect, last_byte_ms: v.lastByte, sent_bytes: v.sent, login_ms: Date.now() - t });
        await ctx.close();
    }
    console.log(`web: paint ${JSON.stringify(runs)}`);
}

const browser = await launch();
try {
    if (cfg.paint) {
        await paint(browser);
    } else if (cfg.smoke) {
        await smoke(browser);
    } else {
        await admin(browser);
        await readonly(browser);
        await xss(browser);
    }
    assert.deepEqual(problems, [], 'dialogs, page errors, console errors');
    step('ok');
} finally {
    await browser.close();
}
