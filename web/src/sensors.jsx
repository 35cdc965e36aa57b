// sensors.jsx: current readings of temperatures, fans and voltages with their thresholds (from
// Chassis Thermal and Power: two requests, however many sensors there are).
import * as api from './api.js';
import { ErrorLine, Toolbar, useLoad } from './ui.jsx';

const CH = '/redfish/v1/Chassis/vigil';

async function loadSensors() {
    const [t, p] = await Promise.all([api.get(`${CH}/Thermal`), api.get(`${CH}/Power`)]);
    const rows = [];
    for (const s of t.Temperatures || []) rows.push({ s, kind: 'Temperature', value: s.ReadingCelsius, unit: '°C' });
    for (const s of t.Fans || []) rows.push({ s, kind: 'Fan', value: s.Reading, unit: s.ReadingUnits || 'RPM' });
    for (const s of p.Voltages || []) rows.push({ s, kind: 'Voltage', value: s.ReadingVolts, unit: 'V' });
    return rows;
}

const th = (v) => (v == null ? '–' : v);

// A reading against its thresholds: beyond a critical one, beyond a caution one, or fine.
function level(s, v) {
    if (v == null) return '';
    if ((s.UpperThresholdCritical != null && v >= s.UpperThresholdCritical) ||
        (s.LowerThresholdCritical != null && v <= s.LowerThresholdCritical)) return 'crit';
    if ((s.UpperThresholdNonCritical != null && v >= s.UpperThresholdNonCritical) ||
        (s.LowerThresholdNonCritical != null && v <= s.LowerThresholdNonCritical)) return 'warn';
    return '';
}

export function Sensors() {
    const { data, err, busy, reload } = useLoad(loadSensors);
    return (
        <section>
            <Toolbar title="Sensors" busy={busy} reload={reload} />
            <ErrorLine err={err} />
            <table data-testid="sensors">
                <thead>
                    <tr><th>Sensor</th><th>Kind</th><th>Reading</th><th>Lower critical</th><th>Lower caution</th>
                        <th>Upper caution</th><th>Upper critical</th><th>Health</th></tr>
                </thead>
                <tbody>
                    {(data || []).map(({ s, kind, value, unit }) => (
                        <tr data-testid="sensor-row" class={level(s, value)}>
                            <td>{s.Name}</td>
                            <td>{kind}</td>
                            <td class="num">{value == null ? '–' : `${value} ${unit}`}</td>
                            <td class="num">{th(s.LowerThresholdCritical)}</td>
                            <td class="num">{th(s.LowerThresholdNonCritical)}</td>
                            <td class="num">{th(s.UpperThresholdNonCritical)}</td>
                            <td class="num">{th(s.UpperThresholdCritical)}</td>
                            <td>{s.Status?.Health}</td>
                        </tr>
                    ))}
                </tbody>
            </table>
            <p class="hint">Live plots arrive with the event stream.</p>
        </section>
    );
}
