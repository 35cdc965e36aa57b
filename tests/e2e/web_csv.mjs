// web_csv.mjs: the browser test's Event log export (web_browser.mjs): the CSV it downloads
// checked against the table shown, with a hostile message quoted so no spreadsheet runs it.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { cfg, step } from './web_page.mjs';

// What the route above puts in place of the probe's message: a formula, a newline, commas, quotes.
export const INJECTED = '=HYPERLINK("http://evil.example/","click"), then\na second line';

// RFC 4180: quoted cells may hold commas, doubled quotes and line breaks; rows end in CRLF.
function parseCsv(text) {
    const rows = [];
    let row = [], cell = '', quoted = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (quoted) {
            if (c !== '"') cell += c;
            else if (text[i + 1] === '"') cell += '"', i++;
            else quoted = false;
        } else if (c === '"') quoted = true;
        else if (c === ',') row.push(cell), (cell = '');
        else if (c === '\r' && text[i + 1] === '\n') row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
        else cell += c;
    }
    if (cell || row.length) row.push(cell), rows.push(row);
    return rows;
}

// The exported CSV (the OK entries shown) against the table: its header, one row per entry shown
// with the same Id and Message, the probe with commas and quotes intact, the injected formula
// quoted and prefixed with ' so a spreadsheet shows it as text.
export async function checkCsv(page) {
    const shown = await page.locator('[data-testid=sel-row]').evaluateAll((trs) =>
        trs.map((tr) => [tr.cells[0].textContent, tr.querySelector('td.msg').textContent]));
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=csv]')]);
    const raw = readFileSync(await dl.path(), 'utf8');
    const csv = parseCsv(raw);
    assert.deepEqual(csv[0], ['Id', 'Created', 'Severity', 'EntryType', 'Message']);
    assert.equal(csv.length - 1, shown.length, 'CSV rows = rows shown');
    const unformula = (m) => (/^'[=+\-@]/.test(m) ? m.slice(1) : m);
    assert.deepEqual(csv.slice(1).map((r) => [r[0], unformula(r[4])]), shown, 'CSV rows = the entries shown');
    assert.ok(csv.slice(1).every((r) => r.length === 5 && r[2] === 'OK'), 'CSV cells');
    assert.ok(csv.some((r) => r[4] === cfg.quoteProbe), `the probe with commas and quotes: ${cfg.quoteProbe}`);
    assert.ok(shown.some(([, m]) => m === INJECTED), 'the injected entry is shown as it came');
    const cellText = `"'${INJECTED.replace(/"/g, '""')}"`;
    assert.ok(raw.includes(`,${cellText}\r\n`), `the formula's cell, quoted and prefixed: ${cellText}`);
    step(`CSV: header and ${shown.length} rows = the entries shown; "${cfg.quoteProbe}" intact; a message starting with = quoted and prefixed with '`);
}
