// live.js: the one event-stream reader of the page: the agent's SSE stream read through fetch
// (the token is a header, which EventSource cannot send), reconnected with Last-Event-ID, and
// handed to the views that subscribe. No polling: views refetch when an event says to.
import { useEffect } from 'preact/hooks';
import * as api from './api.js';

const SSE = '/redfish/v1/EventService/SSE';
const listeners = new Set();
const statusListeners = new Set();
let running = false;
let controller = null;
let lastId = null;
let status = 'off';

function setStatus(s) {
    status = s;
    statusListeners.forEach((f) => f(s));
}

export const liveStatus = () => status;
export function onLiveStatus(f) {
    statusListeners.add(f);
    return () => statusListeners.delete(f);
}

// Each listener gets every EventRecord; {resync: true} when events may have been missed
// (the agent's EventBufferExceeded), so that it reloads what it shows.
function dispatch(rec) {
    listeners.forEach((f) => {
        try {
            f(rec);
        } catch (e) {
            console.warn('event listener failed', e);
        }
    });
}

// One frame ("id: ...\ndata: ...\n\n"); comments (": keep-alive") carry nothing.
function frame(text) {
    let id = null;
    let data = '';
    for (const line of text.split('\n')) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (id) lastId = id;
    if (!data) return;
    let ev;
    try {
        ev = JSON.parse(data);
    } catch {
        return;
    }
    for (const rec of ev.Events || []) {
        if (/\.EventBufferExceeded$/.test(rec.MessageId || '')) dispatch({ resync: true });
        else dispatch(rec);
    }
}

async function readOnce() {
    controller = new AbortController();
    const headers = { Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const r = await api.request('GET', SSE, undefined, headers, controller.signal);
    setStatus('live');
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
            frame(buf.slice(0, i));
            buf = buf.slice(i + 2);
        }
    }
}

// Runs while logged in: a stream that ends (agent restart, network) is reopened after a pause
// that grows to 10 s; a 401 ends the session (api.request shows the login form).
async function loop() {
    let pause = 1000;
    while (running && api.session()) {
        try {
            await readOnce();
            pause = 1000;
        } catch (e) {
            if (!running || e.status === 401) break;
        }
        if (!running || !api.session()) break;
        setStatus('reconnecting');
        await new Promise((res) => setTimeout(res, pause));
        pause = Math.min(pause * 2, 10000);
    }
    running = false;
    setStatus('off');
}

export function startLive() {
    if (running) return;
    running = true;
    loop();
}

export function stopLive() {
    running = false;
    controller?.abort();
}

// A subscription outside any view (the sensors' history); returns the unsubscribe function.
export function onLive(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

// A view's subscription for as long as it is shown.
export function useLive(fn) {
    useEffect(() => onLive(fn), []);
}

// fn at most once per `ms` (a burst of events becomes one reload).
export function coalesce(fn, ms = 100) {
    let t = null;
    return () => {
        if (t) return;
        t = setTimeout(() => {
            t = null;
            fn();
        }, ms);
    };
}
