// sensor_history.js: the sensors' readings and their last hour, kept in the page (not in the
// agent), fed by the event stream: the agent sends a Vigil.SensorReadings record every few
// seconds while a stream is open (no polling here). Thresholds come once from Chassis Thermal and
// Power (when Sensors is first shown, on Refresh, and after events were missed).
import * as api from './api.js';
import { onLive } from './live.js';

const CH = '/redfish/v1/Chassis/vigil';
export const PERIOD = 5000; // the agent's period (its records carry PeriodMs)
const KEEP_MS = 3600 * 1000;
const KINDS = { Temperature: ['Temperature', '°C'], Rotational: ['Fan', 'RPM'], Voltage: ['Voltage', 'V'] };

// One row per sensor, the thresholds under their legacy (Thermal/Power) names.
async function readSensors() {
    const [t, p] = await Promise.all([api.get(`${CH}/Thermal`), api.get(`${CH}/Power`)]);
    const rows = [];
    for (const s of t.Temperatures || []) rows.push({ s, kind: 'Temperature', value: s.ReadingCelsius, unit: '°C' });
    for (const s of t.Fans || []) rows.push({ s, kind: 'Fan', value: s.Reading, unit: s.ReadingUnits || 'RPM' });
    for (const s of p.Voltages || []) rows.push({ s, kind: 'Voltage', value: s.ReadingVolts, unit: 'V' });
    return rows;
}

const times = []; // seconds (uPlot's x unit)
const series = new Map(); // sensor name -> readings, aligned with times (null: no reading)
const listeners = new Set();
let latest = null; // the rows shown: thresholds from Thermal/Power, readings from the stream
let loaded = false;
let readings = 0; // how many readings the history has taken (the tests watch it)

function record(rows, now) {
    readings++;
    times.push(now / 1000);
    for (const { s, value } of rows) {
        if (!series.has(s.Name)) series.set(s.Name, []);
        const a = series.get(s.Name);
        while (a.length < times.length - 1) a.push(null); // joined late, or missed a reading
        a.push(value ?? null);
    }
    for (const a of series.values()) while (a.length < times.length) a.push(null);
    let drop = 0;
    while (drop < times.length && times[drop] * 1000 < now - KEEP_MS) drop++;
    if (drop) {
        times.splice(0, drop);
        for (const a of series.values()) a.splice(0, drop);
    }
}

const tell = (err) => listeners.forEach((f) => f(latest, err));

// A SensorReadings record: each reading replaces the one of the sensor with its name; a sensor
// not seen in Thermal/Power yet (or before they were read) gets a row without thresholds.
function onReadings(list) {
    const rows = latest ? latest.map((r) => ({ ...r })) : [];
    for (const x of list) {
        if (typeof x?.Name !== 'string') continue;
        let row = rows.find((r) => r.s.Name === x.Name);
        if (!row) {
            const [kind, unit] = KINDS[x.ReadingType] || [x.ReadingType || '', x.ReadingUnits || ''];
            row = { s: { Name: x.Name }, kind, unit };
            rows.push(row);
        }
        row.value = typeof x.Reading === 'number' ? x.Reading : null;
        row.health = x.Health;
    }
    latest = rows;
    record(rows, Date.now());
    tell(null);
}

// From the page's start (so the hour is there when Sensors is first opened): readings as they
// come; a resync (events missed) reads the thresholds again.
onLive((rec) => {
    if (rec.resync) return loaded && load();
    if (/\.SensorReadings$/.test(rec.MessageId || '')) onReadings(rec.Oem?.Vigil?.Readings || []);
});

async function load() {
    try {
        const rows = await readSensors();
        latest = rows.map((r) => ({ ...r, health: r.s.Status?.Health }));
        if (!readings) record(latest, Date.now());
        loaded = true;
        tell(null);
    } catch (e) {
        tell(e);
    }
}

// Subscribes f(rows, error) to each change; the first subscriber reads the thresholds. Returns
// the unsubscribe function (the history goes on while the page lives).
export function subscribe(f) {
    listeners.add(f);
    if (!loaded) load();
    else f(latest, null);
    return () => listeners.delete(f);
}

export const refresh = () => load();
export const history = (name) => ({ times, values: series.get(name) || [] });
export const readingCount = () => readings;
