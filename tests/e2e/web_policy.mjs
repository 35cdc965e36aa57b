// web_policy.mjs: the browser test's trap policy form (web_browser.mjs): refusals next to their
// fields, a save with If-Match, a change made elsewhere reported rather than overwritten.
import assert from 'node:assert/strict';
import { cfg, checkClean, expected, shot, step, text } from './web_page.mjs';

// The trap policy as a form: a refused value is shown next to its field, a good one is saved
// (If-Match), and a change made elsewhere meanwhile is reported rather than overwritten.
export async function policyForm(page, ctx) {
    const sel = (ev) => `[data-testid=event-${ev}]`;
    const fieldError = (k) => `[data-testid="error-${k}"]`;
    await page.click('a[href="#/policy"]');
    await page.waitForSelector(sel('triple_fault'));
    assert.equal(await page.inputValue(sel('triple_fault')), 'freeze');
    expected.refusal = true;
    await page.selectOption(sel('triple_fault'), 'resume');
    await page.click('[data-testid=save]');
    await page.waitForSelector(fieldError('Events/triple_fault'));
    assert.match(await text(page, fieldError('Events/triple_fault')), /refused/);
    await shot(page, 'policy-error');
    step('policy: triple_fault=resume refused, the reason next to that field');
    await page.selectOption(sel('triple_fault'), 'freeze');
    await page.fill('[data-testid=field-WatchdogMs]', 'soon');
    await page.click('[data-testid=save]');
    await page.waitForSelector(fieldError('WatchdogMs'));
    assert.equal(await page.locator(fieldError('Events/triple_fault')).count(), 0);
    await page.fill('[data-testid=field-WatchdogMs]', '0');
    await page.selectOption(sel('forbidden_port'), 'notify');
    await page.click('[data-testid=save]');
    await page.waitForSelector('[data-testid=saved]');
    const sess = await page.evaluate(() => JSON.parse(sessionStorage.getItem('vigil.session')));
    const uri = cfg.base + '/redfish/v1/Managers/hv/Oem/Vigil/Policy';
    const auth = { 'X-Auth-Token': sess.token };
    let r = await ctx.request.get(uri, { headers: auth });
    assert.equal((await r.json()).Events.forbidden_port, 'notify');
    step('policy: forbidden_port=notify saved through the form (If-Match), the agent has it');
    // Someone else changes the policy; the form's next save is refused, not applied.
    r = await ctx.request.patch(uri, { headers: { ...auth, 'If-Match': r.headers().etag, 'Content-Type': 'application/json' },
        data: { Events: { forbidden_msr: 'notify' } } });
    assert.equal(r.status(), 200);
    await page.selectOption(sel('forbidden_port'), 'log');
    await page.click('[data-testid=save]');
    await page.waitForFunction(() => /changed elsewhere/.test(document.querySelector('main [role=alert]')?.textContent));
    r = await ctx.request.get(uri, { headers: auth });
    assert.equal((await r.json()).Events.forbidden_port, 'notify', 'a stale form overwrote the policy');
    expected.refusal = false;
    await page.click('[data-testid=refresh]');
    await page.waitForFunction(() => document.querySelector('[data-testid=event-forbidden_msr]')?.value === 'notify');
    step('policy: a change made elsewhere meanwhile is reported (412), not overwritten; Refresh shows it');
    await checkClean(page);
}
