// cspstyles.js: lets xterm.js style itself under the agent's CSP (style-src 'self', no
// 'unsafe-inline'). xterm writes its per-terminal rules (cell sizes, theme colours) into <style>
// elements it creates, which that CSP blocks. From here on, a <style> made with createElement
// is an inert <template> whose text goes into a constructed stylesheet adopted by the document:
// CSSOM, which the CSP allows, and never markup. Only xterm makes <style> elements in this app.
const make = Document.prototype.createElement;

Document.prototype.createElement = function (tag, opts) {
    if (String(tag).toLowerCase() !== 'style') return make.call(this, tag, opts);
    const doc = this;
    const el = make.call(doc, 'template');
    const sheet = new CSSStyleSheet();
    let css = '';
    const set = (v) => {
        css = String(v ?? '');
        sheet.replaceSync(css);
        if (!doc.adoptedStyleSheets.includes(sheet)) doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
    };
    Object.defineProperty(el, 'textContent', { get: () => css, set });
    Object.defineProperty(el, 'innerText', { get: () => css, set });
    Object.defineProperty(el, 'sheet', { get: () => sheet });
    const remove = el.remove.bind(el);
    el.remove = () => {
        doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
        remove();
    };
    return el;
};
