// The emulator's console: reads and changes the emulator through the admin plane's JSON endpoints only.
// Data reaches the DOM as text (textContent, form values), never as markup: the journal shows whatever
// paths and user agents clients sent.

const ADMIN = '/_crossmap';
const PAGE = 50;
const POLL_MS = 1000;
const JOURNAL_ROWS = 500;
const TOKEN_KEY = 'crossmap-admin-token';

const $ = (id) => document.getElementById(id);

const state = {
  view: 'mappings',
  tenant: '',
  kind: 'crossOrganizationUserMappings',
  search: '',
  skip: 0,
  count: 0,
  lastSeq: null,
  paused: false,
  pollTimer: null,
  faults: null,
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  asking: null,
};

/** An answer other than 2xx, with Graph's error message when the body has one. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Asks for the admin token once, however many calls were refused meanwhile. */
function askToken() {
  if (!state.asking) {
    const dialog = $('token-dialog');
    state.asking = new Promise((resolve) => {
      const form = $('token-form');
      const done = (event) => {
        event.preventDefault();
        const value = $('token').value.trim();
        if (!value) return;
        form.removeEventListener('submit', done);
        state.token = value;
        sessionStorage.setItem(TOKEN_KEY, value);
        dialog.close();
        state.asking = null;
        resolve();
      };
      form.addEventListener('submit', done);
      dialog.showModal();
      $('token').focus();
    });
  }
  return state.asking;
}

/** One admin call: JSON in and out, the bearer token when there is one; a 401 asks for the token and retries. */
async function api(method, path, body) {
  for (;;) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(ADMIN + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
    if (response.status === 401) {
      await askToken();
      continue;
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const error = json && json.error;
      throw new ApiError(
        response.status,
        error && error.code ? error.code : String(response.status),
        error && error.message ? error.message : text || response.statusText,
      );
    }
    return json;
  }
}

function showError(error) {
  const box = $('error');
  if (!error) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.textContent = error instanceof ApiError ? `${error.status} ${error.code}: ${error.message}` : String(error);
  box.hidden = false;
}

/** A new element with text and attributes. */
function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

// ---- views ----------------------------------------------------------------------------------------------

function showView(view) {
  if (!['mappings', 'journal', 'faults'].includes(view)) view = 'mappings';
  state.view = view;
  for (const button of document.querySelectorAll('nav.tabs button')) {
    const on = button.dataset.view === view;
    button.setAttribute('aria-current', on ? 'page' : 'false');
  }
  for (const name of ['mappings', 'journal', 'faults']) $(`view-${name}`).hidden = name !== view;
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  stopPolling();
  if (view === 'journal') startPolling();
  if (view === 'faults') loadFaults().catch(showError);
  if (view === 'mappings') loadMappings().catch(showError);
}

// ---- tenants --------------------------------------------------------------------------------------------

async function loadTenants() {
  const answer = await api('GET', '/tenants');
  const select = $('tenant');
  const tenants = answer.value || [];
  const keep = state.tenant || select.value;
  select.replaceChildren();
  if (tenants.length === 0) {
    select.append(el('option', '(no tenant has mappings yet)', { value: '' }));
  }
  for (const t of tenants) {
    select.append(el('option', `${t.tenant} (${t.userMappings} users, ${t.groupMappings} groups)`, { value: t.tenant }));
  }
  const names = tenants.map((t) => t.tenant);
  state.tenant = names.includes(keep) ? keep : names[0] || '';
  select.value = state.tenant;
}

// ---- mappings -------------------------------------------------------------------------------------------

function sourceKey(m) {
  if (m.sourceUserIdentity) return m.sourceUserIdentity.userPrincipalName;
  if (m.sourceGroupIdentity) return m.sourceGroupIdentity.id;
  return m.id;
}

function targetKey(m) {
  if (m.targetUserIdentity) return m.targetUserIdentity.userPrincipalName;
  if (m.targetGroupIdentity) return m.targetGroupIdentity.id;
  return '';
}

async function loadMappings() {
  const body = $('mappings').tBodies[0];
  const status = $('mappings-status');
  if (!state.tenant) {
    body.replaceChildren();
    status.textContent = 'No tenant to show: push mappings through the Graph API, then refresh tenants.';
    state.count = 0;
    updatePager();
    return;
  }
  const query = new URLSearchParams({ skip: String(state.skip), top: String(PAGE) });
  if (state.search) query.set('search', state.search);
  const path = `/tenants/${encodeURIComponent(state.tenant)}/${state.kind}?${query}`;
  const answer = await api('GET', path);
  const mappings = answer.value || [];
  state.count = answer.count || 0;
  const rows = mappings.map((m) => {
    const row = el('tr');
    const key = el('td');
    const open = el('button', sourceKey(m), { type: 'button', class: 'link' });
    open.addEventListener('click', () => showMapping(m, row));
    key.append(open);
    row.append(key, el('td', targetKey(m)), el('td', m.userType || m.groupType || ''));
    return row;
  });
  body.replaceChildren(...rows);
  const what = state.kind === 'crossOrganizationUserMappings' ? 'user' : 'group';
  const matching = state.search ? ` matching “${state.search}”` : '';
  status.textContent =
    state.count === 0
      ? `No ${what} mappings${matching} in ${state.tenant}.`
      : `${what} mappings ${state.skip + 1}–${state.skip + mappings.length} of ${state.count}${matching} in ${state.tenant}`;
  updatePager();
}

function showMapping(mapping, row) {
  for (const r of $('mappings').tBodies[0].rows) r.removeAttribute('aria-selected');
  row.setAttribute('aria-selected', 'true');
  $('mapping-json').textContent = JSON.stringify(mapping, null, 2);
}

function updatePager() {
  $('page-prev').disabled = state.skip === 0;
  $('page-next').disabled = state.skip + PAGE >= state.count;
}

async function search(event) {
  event.preventDefault();
  showError(null);
  const form = $('mapping-search');
  state.kind = form.elements.kind.value;
  state.search = $('search').value.trim();
  state.skip = 0;
  $('mapping-json').textContent = 'Choose a mapping to see it as Graph returns it.';
  // Tenants appear as clients write: look again before searching.
  await loadTenants();
  await loadMappings();
}

// ---- journal --------------------------------------------------------------------------------------------

function statusClass(status) {
  if (status === null || status === undefined) return 'status-none';
  if (status >= 500 || status === 429) return 'status-fail';
  if (status >= 400) return 'status-warn';
  return 'status-ok';
}

function journalRow(e) {
  const row = el('tr', undefined, { 'data-seq': String(e.seq) });
  if (e.fault) row.classList.add('faulted');
  const time = e.time ? e.time.replace(/^.*T/, '').replace(/Z$/, '') : '';
  const ms = typeof e.durationMs === 'number' ? e.durationMs.toFixed(1) : '';
  const status = el('td', e.status ?? 'dropped', { class: statusClass(e.status) });
  const path = el('td', e.path, { class: 'path', title: e.userAgent ? `User-Agent: ${e.userAgent}` : '' });
  row.append(
    el('td', e.seq),
    el('td', time, { title: e.time || '' }),
    el('td', e.method),
    path,
    status,
    el('td', ms, { class: 'num' }),
    el('td', e.tenant ?? ''),
    el('td', e.appId ?? ''),
    el('td', e.retryAttempt ?? '', { class: 'num' }),
    el('td', e.items ?? '', { class: 'num' }),
    el('td', e.fault ?? ''),
  );
  return row;
}

async function pollJournal() {
  const query = new URLSearchParams();
  if (state.lastSeq === null) query.set('limit', '200');
  else query.set('after', String(state.lastSeq));
  const answer = await api('GET', `/requests?${query}`);
  const entries = answer.value || [];
  const body = $('journal').tBodies[0];
  // Newest first: each entry goes on top.
  for (const e of entries) {
    body.insertBefore(journalRow(e), body.firstChild);
    state.lastSeq = Math.max(state.lastSeq ?? 0, e.seq);
  }
  if (state.lastSeq === null) state.lastSeq = 0;
  while (body.rows.length > JOURNAL_ROWS) body.deleteRow(body.rows.length - 1);
  const n = body.rows.length;
  $('journal-status').textContent = `${state.paused ? 'Paused' : 'Live'}: ${n} request${n === 1 ? '' : 's'} shown`;
}

function startPolling() {
  if (state.paused || state.pollTimer !== null) return;
  const tick = async () => {
    try {
      await pollJournal();
    } catch (error) {
      showError(error);
    }
    if (state.pollTimer !== null) state.pollTimer = setTimeout(tick, POLL_MS);
  };
  state.pollTimer = setTimeout(tick, 0);
}

function stopPolling() {
  if (state.pollTimer !== null) clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function togglePause() {
  state.paused = !state.paused;
  const button = $('journal-pause');
  button.setAttribute('aria-pressed', String(state.paused));
  button.textContent = state.paused ? 'Resume' : 'Pause';
  if (state.paused) {
    stopPolling();
    $('journal-status').textContent = 'Paused';
  } else {
    startPolling();
  }
}

async function clearJournal() {
  await api('DELETE', '/requests');
  $('journal').tBodies[0].replaceChildren();
  $('journal-status').textContent = 'Cleared';
}

// ---- faults ---------------------------------------------------------------------------------------------

function ruleItem(rule) {
  const item = $('rule-template').content.firstElementChild.cloneNode(true);
  item.rule = rule;
  const f = (name) => item.querySelector(`[name="${name}"]`);
  const match = rule.match || {};
  f('method').value = match.method ? String(match.method).toUpperCase() : '';
  f('path').value = match.path ?? '';
  f('rate').value = rule.rate ?? '';
  f('every').value = rule.every ?? '';
  f('times').value = rule.times ?? '';
  f('status').value = rule.status ?? '';
  f('retryAfter').value = rule.retryAfter ?? '';
  f('code').value = rule.code ?? '';
  f('message').value = rule.message ?? '';
  const latency = Array.isArray(rule.latencyMs) ? rule.latencyMs : [];
  f('latencyLo').value = latency[0] ?? '';
  f('latencyHi').value = latency[1] ?? '';
  f('drop').checked = rule.drop === true;
  f('afterApply').checked = rule.afterApply === true;
  item.querySelector('.remove').addEventListener('click', () => {
    item.remove();
    numberRules();
  });
  return item;
}

function numberRules() {
  const items = $('fault-rules').children;
  for (let i = 0; i < items.length; i++) {
    // Numbered from 0, as the journal's fault column and the server's error messages (rules[0]) number them.
    items[i].querySelector('legend').textContent = `Rule ${i}`;
    items[i].querySelector('.remove').setAttribute('aria-label', `Remove rule ${i}`);
  }
}

/** The rule a form item stands for: fields the form does not show are kept as they were. */
function ruleFromItem(item) {
  const rule = { ...(item.rule || {}) };
  const f = (name) => item.querySelector(`[name="${name}"]`);
  const text = (name) => f(name).value.trim();
  const number = (name) => (text(name) === '' ? undefined : Number(text(name)));
  const set = (key, value) => {
    if (value === undefined || value === '' || value === false) delete rule[key];
    else rule[key] = value;
  };
  const match = { ...(rule.match || {}) };
  for (const key of ['method', 'path']) {
    if (text(key)) match[key] = text(key);
    else delete match[key];
  }
  set('match', Object.keys(match).length ? match : undefined);
  set('rate', number('rate'));
  set('every', number('every'));
  set('times', number('times'));
  set('status', number('status'));
  set('retryAfter', text('retryAfter'));
  set('code', text('code'));
  set('message', text('message'));
  const lo = number('latencyLo');
  const hi = number('latencyHi');
  set('latencyMs', lo === undefined && hi === undefined ? undefined : [lo ?? 0, hi ?? lo ?? 0]);
  set('drop', f('drop').checked);
  set('afterApply', f('afterApply').checked);
  return rule;
}

function showFaults(doc) {
  state.faults = doc;
  $('fault-seed').value = doc.seed ?? '';
  $('fault-rules').replaceChildren(...(doc.rules || []).map(ruleItem));
  numberRules();
  $('faults-json').value = JSON.stringify(doc, null, 2);
  const n = (doc.rules || []).length;
  $('faults-status').textContent = n === 0 ? 'No rules: faults are off.' : `${n} rule${n === 1 ? '' : 's'} in force.`;
}

async function loadFaults() {
  showFaults(await api('GET', '/faults'));
}

async function saveFaults(doc) {
  showError(null);
  try {
    showFaults(await api('PUT', '/faults', doc));
    $('faults-status').textContent += ' Saved.';
  } catch (error) {
    // A refused document changes nothing on the server: keep what the user typed so it can be fixed.
    showError(error);
    $('faults-status').textContent = 'Not saved.';
  }
}

function saveForm(event) {
  event.preventDefault();
  const doc = { ...(state.faults || {}) };
  const seed = $('fault-seed').value.trim();
  if (seed === '') delete doc.seed;
  else doc.seed = Number(seed);
  doc.rules = [...$('fault-rules').children].map(ruleFromItem);
  return saveFaults(doc);
}

function saveJson(event) {
  event.preventDefault();
  let doc;
  try {
    doc = JSON.parse($('faults-json').value);
  } catch (error) {
    showError(`The JSON does not parse: ${error.message}`);
    return undefined;
  }
  return saveFaults(doc);
}

// ---- start ----------------------------------------------------------------------------------------------

async function health() {
  const h = await api('GET', '/health');
  $('server').textContent = `${h.status}, version ${h.version}`;
}

function wire() {
  for (const button of document.querySelectorAll('nav.tabs button')) {
    button.addEventListener('click', () => showView(button.dataset.view));
  }
  window.addEventListener('hashchange', () => showView(location.hash.slice(1)));
  $('tenant').addEventListener('change', () => {
    state.tenant = $('tenant').value;
    state.skip = 0;
    loadMappings().catch(showError);
  });
  $('tenants-refresh').addEventListener('click', () => loadTenants().then(loadMappings).catch(showError));
  $('mapping-search').addEventListener('submit', (event) => search(event).catch(showError));
  $('page-prev').addEventListener('click', () => {
    state.skip = Math.max(0, state.skip - PAGE);
    loadMappings().catch(showError);
  });
  $('page-next').addEventListener('click', () => {
    state.skip += PAGE;
    loadMappings().catch(showError);
  });
  $('journal-pause').addEventListener('click', togglePause);
  $('journal-clear').addEventListener('click', () => clearJournal().catch(showError));
  $('fault-add').addEventListener('click', () => {
    $('fault-rules').append(ruleItem({}));
    numberRules();
  });
  $('fault-reload').addEventListener('click', () => loadFaults().catch(showError));
  $('faults-form').addEventListener('submit', saveForm);
  $('faults-json-form').addEventListener('submit', saveJson);
}

async function start() {
  wire();
  try {
    await health();
    await loadTenants();
  } catch (error) {
    showError(error);
  }
  showView(location.hash.slice(1));
  document.body.dataset.ready = 'true';
}

start();
