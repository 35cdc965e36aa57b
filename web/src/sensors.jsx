// sensors.jsx: temperatures, fans and voltages: the current reading against the four thresholds,
// and each sensor's last hour plotted with its thresholds (sensor_history.js keeps the hour, fed
// by the event stream's readings; two requests for the thresholds, however many sensors).
import { useEffect, useState } from 'preact/hooks';
import { Plot } from './plot.jsx';
import { PERIOD, readingCount, refresh, subscribe } from './sensor_history.js';
import { ErrorLine, Toolbar } from './ui.jsx';

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
    const [data, setData] = useState(null);
    const [err, setErr] = useState('');
    const [stamp, setStamp] = useState(0); // bumps on each reading: the plots redraw
    useEffect(() =>
        subscribe((rows, e) => {
            setData(rows);
            setErr(e ? e.message : '');
            setStamp((n) => n + 1);
        }), []);
    return (
        <section>
            <Toolbar title="Sensors" busy={false} reload={refresh} />
            <ErrorLine err={err} />
            <table data-testid="sensors" data-readings={readingCount()}>
                <thead>
                    <tr><th>Sensor</th><th>Kind</th><th>Reading</th><th>Lower critical</th><th>Lower caution</th>
                        <th>Upper caution</th><th>Upper critical</th><th>Health</th></tr>
                </thead>
                <tbody>
                    {(data || []).map(({ s, kind, value, unit, health }) => (
                        <tr data-testid="sensor-row" class={level(s, value)}>
                            <td>{s.Name}</td>
                            <td>{kind}</td>
                            <td class="num">{value == null ? '–' : `${value} ${unit}`}</td>
                            <td class="num">{th(s.LowerThresholdCritical)}</td>
                            <td class="num">{th(s.LowerThresholdNonCritical)}</td>
                            <td class="num">{th(s.UpperThresholdNonCritical)}</td>
                            <td class="num">{th(s.UpperThresholdCritical)}</td>
                            <td>{health ?? s.Status?.Health}</td>
                        </tr>
                    ))}
                </tbody>
            </table>
            <h3>The last hour <span class="hint">(kept in this page; a reading every {PERIOD / 1000} s from the event stream; dashed: caution and critical thresholds)</span></h3>
            <div class="plots">
                {(data || []).map(({ s, unit }) => (
                    <figure>
                        <figcaption>{s.Name}</figcaption>
                        <Plot s={s} unit={unit} stamp={stamp} />
                    </figure>
                ))}
            </div>
        </section>
    );
}
