// sensor_history.js: the last hour of sensor readings, kept in the page (not in the agent): a
// reading of Chassis Thermal and Power every PERIOD ms from the first visit to Sensors until the
// session ends. A modest refresh until the event stream carries readings; then this feeds on it.
import * as api from './api.js';

const CH = '/redfish/v1/Chassis/vigil';
export const PERIOD = 5000;
const KEEP_MS = 3600 * 1000;

// One row per sensor, the thresholds under their legacy (Thermal/Power) names.
export async function readSensors() {
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
let latest = null;
let timer = null;

function record(rows, now) {
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

async function tick() {
    if (!api.session()) return stop();
    try {
        latest = await readSensors();
        record(latest, Date.now());
        for (const f of listeners) f(latest, null);
    } catch (e) {
        for (const f of listeners) f(latest, e);
        if (e.status === 401) return stop();
    }
}

function stop() {
    clearInterval(timer);
    timer = null;
}

// Subscribes f(rows, error) to each reading; starts the collector on first use. Returns the
// unsubscribe function (the collector keeps the hour going while the session lasts).
export function subscribe(f) {
    listeners.add(f);
    if (!timer) {
        timer = setInterval(tick, PERIOD);
        tick();
    } else if (latest) {
        f(latest, null);
    }
    return () => listeners.delete(f);
}

export const refresh = () => tick();
export const history = (name) => ({ times, values: series.get(name) || [] });
