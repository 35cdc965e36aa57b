// main.jsx: the dashboard's entry point: mounts the app into #app.
import { render } from 'preact';
import { App } from './app.jsx';
import './style.css';

render(<App />, document.getElementById('app'));
