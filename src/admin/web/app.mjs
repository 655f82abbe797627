// The capns web page: the caller's namespace as a tree (union members in order, imports
// with their state), a JSON call form, and the capability table with live call counts
// and revocation. Plain browser JavaScript over /api/v1 (docs/http.md); the token stays
// in sessionStorage.
const state = { token: sessionStorage.getItem('capns-token') ?? '', admin: false };

const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
if (hashToken !== null) {
  state.token = hashToken;
  sessionStorage.setItem('capns-token', hashToken);
  history.replaceState(null, '', location.pathname);
}

async function api(method, path, body) {
  const headers = {};
  if (state.token !== '') headers.authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await r.json();
  if (!r.ok) {
    const e = new Error(`${json.statusCode} ${json.code}: ${json.message}`);
    e.body = json;
    throw e;
  }
  return json;
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

/** One tree node: a name, what it is, the union members bound there (in order), its import state, and its children when expanded. */
function node(path, name, kind, label, imp) {
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
        void expand(path, children, members);
      }
    });
  }
  return li;
}

async function expand(path, children, members) {
  // The union stack at this path, if it is a mount point (not every directory is).
  try {
    const m = await api('GET', `/api/v1/ns/members?path=${encodeURIComponent(path)}`);
    if (m.members.length > 0) {
      members.append('union: ');
      for (const x of m.members) members.append(el('span', { class: 'member', title: x.interfaceId }, `${x.label} (${x.interfaceName}${x.create ? ', create' : ''})`));
    }
  } catch {
    // Not a mount point: nothing to show.
  }
  try {
    const l = await api('GET', `/api/v1/ns/list?path=${encodeURIComponent(path)}`);
    children.replaceChildren(...l.entries.map((e) => node(join(path, e.name), e.name, e.kind, e.label, e.import)));
  } catch (e) {
    children.replaceChildren(el('li', { class: 'error' }, e.message));
  }
}

async function loadTree() {
  const tree = document.getElementById('tree');
  const root = node('/', '/', 'directory', '');
  tree.replaceChildren(root);
  root.querySelector('.toggle').click();
}

async function loadCaptable() {
  const note = document.getElementById('captable-note');
  const body = document.querySelector('#captable tbody');
  if (!state.admin) {
    note.textContent = 'Your profile holds no CapTable capability: the table is for admin profiles.';
    body.replaceChildren();
    return;
  }
  try {
    const { grants } = await api('GET', '/api/v1/captable');
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
    note.textContent = e.message;
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
  try {
    const w = await api('GET', '/api/v1/whoami');
    state.admin = w.admin;
    who.textContent = `profile ${w.profile} (${w.holder})${w.admin ? ', admin' : ''}`;
  } catch (e) {
    who.textContent = e.message;
    return;
  }
  await Promise.all([loadTree(), loadCaptable()]);
  document.body.dataset.ready = 'true';
}

document.getElementById('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = document.getElementById('token').value;
  sessionStorage.setItem('capns-token', state.token);
  void start();
});
document.getElementById('call').addEventListener('submit', (ev) => void call(ev));
// Live call counts.
setInterval(() => void loadCaptable(), 1000);
void start();
