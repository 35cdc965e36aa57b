// plot.jsx: one sensor's last hour as a uPlot line chart, with its thresholds as flat dashed
// lines (caution amber, critical red). Redrawn in place on each reading (setData), no re-mount.
import { useEffect, useRef } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import { history } from './sensor_history.js';

const LIMITS = [
    ['LowerThresholdCritical', '#b00020'],
    ['LowerThresholdNonCritical', '#d08000'],
    ['UpperThresholdNonCritical', '#d08000'],
    ['UpperThresholdCritical', '#b00020'],
];

// At least a five-minute window ending at the newest reading: while the history is shorter, an
// empty first point at its start, so the first readings do not stretch across the whole width
// and the thresholds are lines from the start.
function data(s, limits) {
    const { times, values } = history(s.Name);
    const last = times.length ? times[times.length - 1] : Date.now() / 1000;
    const pad = !times.length || times[0] > last - 300;
    const xs = pad ? [last - 300, ...times] : times;
    const ys = pad ? [null, ...values] : values;
    return [xs, ys, ...limits.map(([k]) => xs.map(() => s[k]))];
}

// uPlot's script is fetched when Sensors is first shown, not with the first view.
let uplot = null;
const loadUplot = () =>
    (uplot ??= import('uplot').then(
        (m) => m.default,
        (e) => {
            uplot = null;
            throw e;
        },
    ));

export function Plot({ s, unit, stamp }) {
    const box = useRef(null);
    const chart = useRef(null);
    const limits = LIMITS.filter(([k]) => s[k] != null);
    useEffect(() => {
        const opts = {
            width: 360,
            height: 140,
            legend: { show: false },
            scales: { x: { time: true } },
            axes: [{}, { label: unit, size: 50 }],
            series: [
                {},
                { label: s.Name, stroke: '#1d5fa8', width: 2, spanGaps: false },
                ...limits.map(([k, color]) => ({ label: k, stroke: color, width: 1, dash: [6, 4], points: { show: false } })),
            ],
        };
        let gone = false;
        loadUplot().then(
            (UPlot) => {
                if (!gone) chart.current = new UPlot(opts, data(s, limits), box.current);
            },
            (e) => console.warn('the plot library did not load', e),
        );
        return () => {
            gone = true;
            chart.current?.destroy();
            chart.current = null;
        };
    }, [s.Name]);
    useEffect(() => {
        chart.current?.setData(data(s, limits));
    }, [stamp]);
    return <div class="plot" data-testid="plot" title={s.Name} ref={box} />;
}
