// The capns web page: the caller's namespace as a tree (union members in order, imports
// with their state; a file opens in the viewer), a JSON call form, the capability table
// with live call counts and revocation, and (admin) the exports with revocation. Plain browser JavaScript over /api/v1 (docs/http.md); the token stays
// in sessionStorage.
// session: bumped at every login, so that an answer to the previous session's request
// (a live refresh in flight when the token changed) is dropped, not shown.
const state = { token: sessionStorage.getItem('capns-token') ?? '', admin: false, session: 0 };

const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
if (hashToken !== null) {
  state.token = hashToken;
  sessionStorage.setItem('capns-token', hashToken);
  history.replaceState(null, '', location.pathname);
}

/** The fetch Response of an API call; an error status throws its `{statusCode, code, message}`. */
async function apiResponse(method, path, body, signal) {
  const headers = {};
  if (state.token !== '') headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!r.ok) {
    const json = await r.json();
    const e = new Error(`${json.statusCode} ${json.code}: ${json.message}`);
    e.body = json;
    throw e;
  }
  return r;
}

async function api(method, path, body) {
  return (await apiResponse(method, path, body)).json();
}

/** The viewer shows at most this much of a file (the first bytes). */
const VIEW_MAX = 1 << 20;
/** Stops the read of the file in the viewer (opening another, or a new login). */
let stopFileRead = () => {};

/**
 * A file's content in the viewer, shown as it arrives: a file without an end (a hub
 * channel) is followed until another file is opened. Text as it is, anything else as a
 * byte count and hex.
 */
async function openFile(path) {
  stopFileRead();
  const ac = new AbortController();
  stopFileRead = () => ac.abort();
  const title = document.getElementById('file-path');
  const view = document.getElementById('file-content');
  title.textContent = path;
  view.className = '';
  view.textContent = '…';
  delete view.dataset.ended;
  delete view.dataset.length;
  const chunks = [];
  let length = 0;
  let text = '';
  let binary = false;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const show = (ended) => {
    if (binary) {
      const head = new Uint8Array(Math.min(length, 4096));
      let at = 0;
      for (const c of chunks) {
        if (at >= head.length) break;
        head.set(c.subarray(0, head.length - at), at);
        at += Math.min(c.length, head.length - at);
      }
      const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
      view.textContent = `(${length} bytes, not UTF-8 text)\n${hex}${length > 4096 ? ' …' : ''}`;
    } else {
      view.textContent = text;
    }
    if (ended && length >= VIEW_MAX) view.textContent += `\n(the first ${VIEW_MAX} bytes)`;
    view.dataset.length = String(length);
  };
  try {
    const r = await apiResponse('GET', `/api/v1/files?path=${encodeURIComponent(path)}&max=${VIEW_MAX}`, undefined, ac.signal);
    if (ac.signal.aborted) return;
    const reader = r.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (ac.signal.aborted) return;
      if (done) break;
      chunks.push(value);
      length += value.length;
      if (!binary) {
        try {
          text += decoder.decode(value, { stream: true });
        } catch {
          binary = true;
        }
      }
      show(false);
    }
    if (!binary) {
      try {
        text += decoder.decode();
      } catch {
        binary = true;
      }
    }
    show(true);
    view.dataset.ended = 'true';
  } catch (e) {
    if (ac.signal.aborted) return;
    view.className = 'error';
    view.textContent = e.message;
  }
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function join(dir, name) {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** What an import's state says to a person (imp: the `import` of a listing entry). */
function importText(imp) {
  const since = new Date(imp.since).toLocaleTimeString();
  switch (imp.state) {
    case 'connected':
      return `import of ${imp.address}: connected since ${since}`;
    case 'connecting':
      return `import of ${imp.address}: connecting since ${since}`;
    case 'refused':
      return `import of ${imp.address}: refused since ${since}: ${imp.lastError}`;
    case 'closed':
      return `import of ${imp.address}: closed`;
    default:
      return `import of ${imp.address}: down since ${since}: ${imp.lastError}`;
  }
}

/**
 * One tree node: a name, what it is, the union members bound there (in order), its import
 * state, and its children when expanded. `mounted`: something is bound at this path (a
 * mount point has union members to show; a plain directory has none, and is not asked).
 */
function node(path, name, kind, label, imp, mounted) {
  const li = el('li', { 'data-path': path });
  const expandable = kind === 'directory';
  const toggle = el('button', { class: 'toggle', type: 'button', 'aria-expanded': 'false', title: expandable ? 'expand' : '' }, expandable ? '▸' : '·');
  const members = el('span', { class: 'members' });
  const nameEl = el('span', { class: 'name' }, name);
  if (kind === 'capability') {
    // A capability: clicking its name puts its path in the call form.
    nameEl.classList.add('callable');
    nameEl.title = 'call it';
    nameEl.addEventListener('click', () => {
      document.getElementById('call-path').value = path;
      document.getElementById('call-method').focus();
    });
  } else if (kind === 'file') {
    nameEl.classList.add('openable');
    nameEl.title = 'open it';
    nameEl.addEventListener('click', () => void openFile(path));
  }
  li.append(toggle, nameEl, el('span', { class: 'kind' }, kind === 'capability' ? `${kind} ${label}` : kind), members);
  if (imp !== undefined) li.append(el('span', { class: `import import-${imp.state}`, 'data-state': imp.state, title: imp.lastError }, importText(imp)));
  const children = el('ul');
  li.append(children);
  if (expandable) {
    toggle.addEventListener('click', () => {
      if (toggle.getAttribute('aria-expanded') === 'true') {
        toggle.setAttribute('aria-expanded', 'false');
        toggle.textContent = '▸';
        children.replaceChildren();
        members.replaceChildren();
      } else {
        toggle.setAttribute('aria-expanded', 'true');
        toggle.textContent = '▾';
        void expand(path, children, members, mounted);
      }
    });
  }
  return li;
}

/** A listing entry's interface id when nothing is bound at its name (a plain directory or file). */
const NO_INTERFACE = '0x0000000000000000';

async function expand(path, children, members, mounted) {
  // The union stack at this path, if it is a mount point; a plain directory (in a file
  // tree, or on the way to a mount point) has none and is not asked.
  if (mounted) {
    try {
      const m = await api('GET', `/api/v1/ns/members?path=${encodeURIComponent(path)}`);
      if (m.members.length > 0) {
        members.append('union: ');
        for (const x of m.members) members.append(el('span', { class: 'member', title: x.interfaceId }, `${x.label} (${x.interfaceName}${x.create ? ', create' : ''})`));
      }
    } catch (e) {
      members.append(el('span', { class: 'error' }, e.message));
    }
  }
  try {
    const l = await api('GET', `/api/v1/ns/list?path=${encodeURIComponent(path)}`);
    children.replaceChildren(...l.entries.map((e) => node(join(path, e.name), e.name, e.kind, e.label, e.import, e.interfaceId !== NO_INTERFACE)));
  } catch (e) {
    children.replaceChildren(el('li', { class: 'error' }, e.message));
  }
}

async function loadTree() {
  const tree = document.getElementById('tree');
  // The root: no listing says whether something is bound at '/' itself, and a namespace
  // seldom binds there (the members route answers 404 when nothing is): not asked.
  const root = node('/', '/', 'directory', '', undefined, false);
  tree.replaceChildren(root);
  root.querySelector('.toggle').click();
}

/** Clears what the previous profile saw: the tree, the open file, the tables. */
function clearProfile() {
  state.admin = false;
  stopFileRead();
  document.getElementById('tree').replaceChildren();
  document.getElementById('file-path').textContent = '';
  document.getElementById('file-content').textContent = '';
  document.querySelector('#captable tbody').replaceChildren();
  document.getElementById('captable-note').textContent = '';
  document.getElementById('exports-section').hidden = true;
  document.querySelector('#exports tbody').replaceChildren();
  document.getElementById('exports-note').textContent = '';
  delete document.body.dataset.ready;
}

async function loadExports() {
  const section = document.getElementById('exports-section');
  const note = document.getElementById('exports-note');
  const body = document.querySelector('#exports tbody');
  section.hidden = !state.admin;
  if (!state.admin) {
    body.replaceChildren();
    return;
  }
  const session = state.session;
  try {
    const { exports } = await api('GET', '/api/v1/exports');
    if (session !== state.session) return;
    note.textContent = exports.length === 0 ? 'This server serves no exports.' : `${exports.length} export${exports.length === 1 ? '' : 's'}`;
    body.replaceChildren(
      ...exports.map((x) =>
        el(
          'tr',
          { class: x.revoked ? 'revoked' : '', 'data-address': x.address },
          el('td', {}, x.address),
          el('td', {}, `${x.profile}:${x.root}`),
          el('td', {}, `${x.readOnly ? 'read-only' : 'writable'}${x.filtered ? ', filtered' : ''}`),
          el('td', { class: 'peers' }, String(x.peers)),
          el('td', {}, x.revoked ? 'revoked' : 'live'),
          el('td', {}, x.revoked ? '' : el('button', { type: 'button', class: 'revoke', onclick: () => void revokeExport(x.address) }, 'Revoke')),
        ),
      ),
    );
  } catch (e) {
    if (session === state.session) note.textContent = e.message;
  }
}

async function revokeExport(address) {
  if (!confirm(`Revoke the export ${address}? Everything it handed out fails at once, for every peer, until a reload.`)) return;
  try {
    await api('POST', '/api/v1/exports/revoke', { address });
  } catch (e) {
    document.getElementById('exports-note').textContent = e.message;
  }
  await loadExports();
}

async function loadCaptable() {
  const note = document.getElementById('captable-note');
  const body = document.querySelector('#captable tbody');
  if (!state.admin) {
    note.textContent = 'Your profile holds no CapTable capability: the table is for admin profiles.';
    body.replaceChildren();
    return;
  }
  const session = state.session;
  try {
    const { grants } = await api('GET', '/api/v1/captable');
    if (session !== state.session) return;
    note.textContent = `${grants.length} grants`;
    body.replaceChildren(
      ...grants.map((g) =>
        el(
          'tr',
          { class: g.revoked ? 'revoked' : '', 'data-id': g.id, 'data-label': g.label, 'data-holder': g.holder },
          el('td', {}, g.id),
          el('td', {}, g.label),
          el('td', { title: g.interfaceId }, g.interfaceName),
          el('td', {}, g.holder),
          el('td', { class: 'calls' }, g.calls),
          el('td', {}, g.revoked ? 'revoked' : 'live'),
          el('td', {}, g.revoked ? '' : el('button', { type: 'button', class: 'revoke', onclick: () => void revoke(g.id) }, 'Revoke')),
        ),
      ),
    );
  } catch (e) {
    if (session === state.session) note.textContent = e.message;
  }
}

async function revoke(id) {
  try {
    await api('POST', `/api/v1/captable/${id}/revoke`);
  } catch (e) {
    document.getElementById('captable-note').textContent = e.message;
  }
  await loadCaptable();
}

async function call(ev) {
  ev.preventDefault();
  const out = document.getElementById('call-result');
  out.className = '';
  out.textContent = '…';
  try {
    const text = document.getElementById('call-params').value.trim();
    const params = text === '' ? null : JSON.parse(text);
    const r = await api('POST', '/api/v1/call', { path: document.getElementById('call-path').value, method: document.getElementById('call-method').value, params });
    out.textContent = JSON.stringify(r.results, null, 2);
  } catch (e) {
    out.className = 'error';
    out.textContent = e.message;
  }
}

async function start() {
  const who = document.getElementById('whoami');
  // Whatever the answer, nothing of the previous profile stays on the page.
  state.session++;
  clearProfile();
  try {
    const w = await api('GET', '/api/v1/whoami');
    state.admin = w.admin;
    who.textContent = `profile ${w.profile} (${w.holder})${w.admin ? ', admin' : ''}`;
  } catch (e) {
    who.textContent = e.message;
    document.body.dataset.ready = 'refused';
    return;
  }
  await Promise.all([loadTree(), loadCaptable(), loadExports()]);
  document.body.dataset.ready = 'true';
}

document.getElementById('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = document.getElementById('token').value;
  sessionStorage.setItem('capns-token', state.token);
  void start();
});
document.getElementById('call').addEventListener('submit', (ev) => void call(ev));
// Live call counts and peers.
setInterval(() => {
  void loadCaptable();
  void loadExports();
}, 1000);
void start();
