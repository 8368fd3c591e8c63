// The emulator's web console in headless Chromium, driven by Playwright.
//
// Run by `cargo xtask browser`, which starts `crossmap serve --in-memory` and passes:
//   CROSSMAP_URL           the emulator's root, e.g. http://127.0.0.1:40123
//   CROSSMAP_CLIENT_ID     an app registered with the mapping roles
//   CROSSMAP_CLIENT_SECRET its secret
//   CROSSMAP_ADMIN_TOKEN   the admin token the emulator was started with, if any (the page must ask for it)
//   CROSSMAP_SCREENSHOTS   where to write one 1280x800 PNG per view (docs/images)
//
// The steps share one page and run in order: each builds on what the one before left.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests with \`cargo xtask browser\``);
  return value;
};
const BASE = env('CROSSMAP_URL');
const CLIENT_ID = env('CROSSMAP_CLIENT_ID');
const CLIENT_SECRET = env('CROSSMAP_CLIENT_SECRET');
// Optional: without it the emulator's admin plane needs no token and the page asks for none.
const ADMIN_TOKEN = process.env.CROSSMAP_ADMIN_TOKEN || '';
const SHOTS = env('CROSSMAP_SCREENSHOTS');
const CHROMIUM = process.env.CROSSMAP_CHROMIUM || '/usr/bin/chromium';

const TENANT = 'contoso';
const USERS = `${BASE}/beta/solutions/sharePoint/migrations/crossOrganizationUserMappings`;
const GROUPS = `${BASE}/beta/solutions/sharePoint/migrations/crossOrganizationGroupMappings`;
const SOURCE_ORG = '11111111-1111-1111-1111-111111111111';

let browserContext;
let page;
let profile;
let bearer;
const pageErrors = [];

/** The admin plane, as a test script calls it (with the token the emulator was started with). */
async function admin(method, path, body) {
  const response = await fetch(`${BASE}/_crossmap${path}`, {
    method,
    headers: {
      ...(ADMIN_TOKEN ? { Authorization: `Bearer ${ADMIN_TOKEN}` } : {}),
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

/** Waits until the emulator answers its health check: what any test harness does after starting it. */
async function waitHealthy() {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const { status, json } = await admin('GET', '/health');
      if (status === 200 && json.status === 'ok') return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${BASE} did not become healthy in 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A Graph token for TENANT from the emulator's identity platform (client-credentials grant). */
async function graphToken() {
  const response = await fetch(`${BASE}/${TENANT}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      scope: 'https://graph.microsoft.com/.default',
    }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).access_token;
}

/** One Graph call with the bearer token. */
function graph(method, url, body, headers = {}) {
  return fetch(url, {
    method,
    headers: {
      Authorization: `Bearer ${bearer}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function user(i) {
  const n = String(i).padStart(3, '0');
  return {
    sourceOrganizationId: SOURCE_ORG,
    userType: 'regularUser',
    sourceUserIdentity: { userPrincipalName: `user${n}@contoso.com` },
    targetUserIdentity: { userPrincipalName: `user${n}@fabrikam.com` },
  };
}

async function screenshot(name) {
  await page.screenshot({ path: join(SHOTS, name) });
}

/** The journal rows the page shows, as text per cell. */
async function journalRows() {
  return page.$$eval('#journal tbody tr', (rows) =>
    rows.map((r) => [...r.cells].map((c) => c.textContent)),
  );
}

const COLUMNS = ['seq', 'time', 'method', 'path', 'status', 'ms', 'tenant', 'app', 'retry', 'items', 'fault'];
const asEntry = (cells) => Object.fromEntries(COLUMNS.map((c, i) => [c, cells[i]]));

describe('the emulator console', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await waitHealthy();
    // A clean emulator whatever ran before: no mappings, no faults, an empty journal.
    assert.equal((await admin('POST', '/reset')).status, 204);
    assert.equal((await admin('PUT', '/faults', { rules: [] })).status, 200);
    assert.equal((await admin('DELETE', '/requests')).status, 204);
    bearer = await graphToken();
    profile = mkdtempSync(join(tmpdir(), 'crossmap-chromium-'));
    browserContext = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 800 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = browserContext.pages()[0] ?? (await browserContext.newPage());
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    page.on('console', (message) => {
      // A blocked script or style (the page's own content security policy) shows up here.
      // The 401 that makes the page ask for the token and the 400 of a refused fault document are expected.
      const expected = /the server responded with a status of (400|401)/.test(message.text());
      if (message.type() === 'error' && !expected) pageErrors.push(message.text());
    });
  });

  after(async () => {
    await browserContext?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test('the page loads, asks for the admin token and shows the emulator', async () => {
    const response = await page.goto(`${BASE}/_crossmap/ui`);
    assert.equal(response.status(), 200);
    const dialog = page.getByRole('dialog', { name: 'Admin token' });
    if (ADMIN_TOKEN) {
      // The emulator was started with an admin token: the first admin call gets a 401 and the page asks.
      await dialog.waitFor();
      await dialog.getByLabel('Token', { exact: true }).fill(ADMIN_TOKEN);
      await dialog.getByRole('button', { name: 'Use token' }).click();
    }
    await page.locator('body[data-ready="true"]').waitFor();
    assert.equal(await dialog.isVisible(), false);
    await page.getByText(/^ok, version \d+\.\d+\.\d+/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Mappings' }).getAttribute('aria-current'), 'page');
    assert.deepEqual(pageErrors, []);
  });

  test('a mapping pushed through the Graph API is found by search, paged, and shown as JSON', async () => {
    // 60 users (two delta PATCHes: at most 50 items each) and one group.
    for (const batch of [[...Array(50).keys()], [...Array(10).keys()].map((i) => i + 50)]) {
      const response = await graph('PATCH', USERS, { '@context': '#$delta', value: batch.map(user) });
      assert.equal(response.status, 200, await response.text());
    }
    const group = {
      sourceOrganizationId: SOURCE_ORG,
      groupType: 'm365Group',
      sourceGroupIdentity: { id: 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' },
      targetGroupIdentity: { id: 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb' },
    };
    assert.equal((await graph('PATCH', GROUPS, { '@context': '#$delta', value: [group] })).status, 200);

    // The page was loaded before the push: the search looks at the tenants again.
    await page.getByLabel('Source key contains').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByLabel('Tenant').selectOption(TENANT);
    await page.getByText(`user mappings 1–50 of 60 in ${TENANT}`).waitFor();
    assert.equal(await page.locator('#mappings tbody tr').count(), 50);
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText(`user mappings 51–60 of 60 in ${TENANT}`).waitFor();
    assert.equal(await page.locator('#mappings tbody tr').count(), 10);
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);

    await page.getByLabel('Source key contains').fill('USER042');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`user mappings 1–1 of 1 matching “USER042” in ${TENANT}`).waitFor();
    await page.getByRole('button', { name: 'user042@contoso.com' }).click();
    const shown = JSON.parse(await page.locator('#mapping-json').textContent());
    assert.equal(shown.sourceUserIdentity.userPrincipalName, 'user042@contoso.com');
    assert.equal(shown.targetUserIdentity.userPrincipalName, 'user042@fabrikam.com');
    assert.equal(typeof shown.id, 'string');
    await screenshot('console-mappings.png');

    await page.getByLabel('Groups').check();
    await page.getByLabel('Source key contains').fill('');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(`group mappings 1–1 of 1 in ${TENANT}`).waitFor();
    await page.getByRole('button', { name: 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' }).click();
    assert.match(await page.locator('#mapping-json').textContent(), /bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb/);
  });

  test('a new request appears in the journal while the page watches', async () => {
    await page.getByRole('button', { name: 'Request journal' }).click();
    await page.getByText(/^Live: /).waitFor();
    const before = (await journalRows()).map(asEntry);
    assert.ok(before.some((e) => e.method === 'PATCH' && e.items === '50'), JSON.stringify(before));

    const mark = `browser-${Date.now()}`;
    const response = await graph('GET', `${USERS}(sourceUserPrincipalName='user007@contoso.com')`, undefined, {
      'client-request-id': mark,
      'Retry-Attempt': '2',
    });
    assert.equal(response.status, 200);
    // The page polls about once a second: the new row comes without a reload.
    const row = page.locator('#journal tbody tr').filter({ hasText: 'user007@contoso.com' });
    await row.first().waitFor({ timeout: 5000 });
    const entry = asEntry(await row.first().locator('td').allTextContents());
    assert.equal(entry.method, 'GET');
    assert.equal(entry.status, '200');
    assert.equal(entry.tenant, TENANT);
    assert.equal(entry.app, CLIENT_ID);
    assert.equal(entry.retry, '2');
    assert.equal(entry.fault, '');
    assert.match(await row.first().locator('td').nth(4).getAttribute('class'), /status-ok/);
    // Newest first.
    assert.equal(await page.locator('#journal tbody tr').first().textContent(), await row.first().textContent());
    await screenshot('console-journal.png');

    // Paused, the page shows nothing new; resumed, it catches up.
    await page.getByRole('button', { name: 'Pause' }).click();
    await graph('GET', `${USERS}(sourceUserPrincipalName='user009@contoso.com')`);
    await page.waitForTimeout(1500);
    const paused = page.locator('#journal tbody tr').filter({ hasText: 'user009@contoso.com' });
    assert.equal(await paused.count(), 0);
    await page.getByRole('button', { name: 'Resume' }).click();
    await paused.first().waitFor({ timeout: 5000 });

    // Clearing empties the page and the emulator's journal.
    await page.getByRole('button', { name: 'Clear journal' }).click();
    await page.getByText('Cleared').waitFor();
    assert.equal(await page.locator('#journal tbody tr').count(), 0);
    assert.deepEqual((await admin('GET', '/requests')).json.value, []);
  });

  test('a fault rule changed through the form fails the next Graph request', async () => {
    await page.getByRole('button', { name: 'Fault rules' }).click();
    await page.getByText('No rules: faults are off.').waitFor();

    // An invalid rule: the server's 400 message is shown and nothing is stored.
    await page.getByRole('button', { name: 'Add rule' }).click();
    const rule = page.locator('#fault-rules > li').first();
    await rule.getByLabel('Rate (0–1)').fill('2');
    await rule.getByLabel('Status').fill('503');
    await page.getByRole('button', { name: 'Save rules' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /^400 /);
    await page.getByText('Not saved.').waitFor();
    assert.deepEqual((await admin('GET', '/faults')).json.rules, []);

    // Fixed: every GET of a user mapping answers 503.
    await rule.getByLabel('Method').selectOption('GET');
    await rule.getByLabel('Path contains').fill('crossOrganizationUserMappings');
    await rule.getByLabel('Rate (0–1)').fill('1');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByText('1 rule in force. Saved.').waitFor();
    assert.equal(await alert.isHidden(), true);
    const stored = (await admin('GET', '/faults')).json;
    assert.equal(stored.rules.length, 1);
    assert.equal(stored.rules[0].status, 503);
    assert.equal(stored.rules[0].match.method.toUpperCase(), 'GET');
    await screenshot('console-faults.png');

    const mark = `fault-${Date.now()}`;
    const response = await graph('GET', `${USERS}(sourceUserPrincipalName='user008@contoso.com')`, undefined, {
      'client-request-id': mark,
    });
    assert.equal(response.status, 503);
    const body = await response.json();
    assert.equal(body.error.code, 'serviceNotAvailable');
    assert.equal(response.headers.get('client-request-id'), mark);
    // Another path does not match the rule.
    assert.equal((await graph('GET', `${GROUPS}(sourceGroupObjectId='aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa')`)).status, 200);

    await page.getByRole('button', { name: 'Request journal' }).click();
    const row = page.locator('#journal tbody tr').filter({ hasText: 'user008@contoso.com' });
    await row.first().waitFor({ timeout: 5000 });
    const entry = asEntry(await row.first().locator('td').allTextContents());
    assert.equal(entry.status, '503');
    assert.notEqual(entry.fault, '');
    assert.match(await row.first().locator('td').nth(4).getAttribute('class'), /status-fail/);
    await screenshot('console-journal-fault.png');

    // Removing the rule through the form turns faults off again.
    await page.getByRole('button', { name: 'Fault rules' }).click();
    await page.getByRole('button', { name: 'Remove rule 0' }).click();
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByText('No rules: faults are off. Saved.').waitFor();
    assert.equal((await graph('GET', `${USERS}(sourceUserPrincipalName='user008@contoso.com')`)).status, 200);

    // The JSON editor: a document that does not parse is refused in the page; a valid one is stored.
    const editor = page.getByLabel('The document as JSON');
    await editor.fill('{"rules": [');
    await page.getByRole('button', { name: 'Save JSON' }).click();
    await page.getByRole('alert').filter({ hasText: 'does not parse' }).waitFor();
    await editor.fill('{"seed": 7, "rules": [{"every": 3, "status": 504}]}');
    await page.getByRole('button', { name: 'Save JSON' }).click();
    await page.getByText('1 rule in force. Saved.').waitFor();
    assert.equal(await rule.getByLabel('Every Nth').inputValue(), '3');
    assert.deepEqual((await admin('GET', '/faults')).json, { seed: 7, rules: [{ every: 3, status: 504 }] });
    await editor.fill('{"rules": []}');
    await page.getByRole('button', { name: 'Save JSON' }).click();
    await page.getByText('No rules: faults are off. Saved.').waitFor();

    // `times` through the form: the rule fires that often, then lets the requests it matches through.
    await page.getByRole('button', { name: 'Add rule' }).click();
    const once = page.locator('#fault-rules > li').first();
    await once.getByLabel('Method').selectOption('GET');
    await once.getByLabel('Path contains').fill('crossOrganizationUserMappings');
    await once.getByLabel('Status').fill('503');
    await once.getByLabel('Fire at most (times)').fill('0');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByRole('alert').filter({ hasText: 'times must be at least 1' }).waitFor();
    assert.deepEqual((await admin('GET', '/faults')).json.rules, []);
    await once.getByLabel('Fire at most (times)').fill('1');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByText('1 rule in force. Saved.').waitFor();
    const [stored1] = (await admin('GET', '/faults')).json.rules;
    assert.equal(stored1.times, 1);
    assert.equal(stored1.status, 503);
    assert.equal(await once.getByLabel('Fire at most (times)').inputValue(), '1');
    const one = `${USERS}(sourceUserPrincipalName='user008@contoso.com')`;
    assert.equal((await graph('GET', one)).status, 503);
    assert.equal((await graph('GET', one)).status, 200);
    // Emptied in the form, the field leaves the rule: it fires on every request again.
    await once.getByLabel('Fire at most (times)').fill('');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByText('1 rule in force. Saved.').waitFor();
    assert.equal((await admin('GET', '/faults')).json.rules[0].times, undefined);
    assert.equal((await graph('GET', one)).status, 503);

    // Another of Graph's throttling bodies, through the form's code and message.
    await once.getByLabel('Status').fill('429');
    await once.getByLabel('Error code').fill('TooManyRequests');
    await once.getByLabel('Error message').fill('Please retry again later.');
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByText('1 rule in force. Saved.').waitFor();
    const [stored2] = (await admin('GET', '/faults')).json.rules;
    assert.equal(stored2.code, 'TooManyRequests');
    assert.equal(stored2.message, 'Please retry again later.');
    const throttled = await graph('GET', one);
    assert.equal(throttled.status, 429);
    const { error } = await throttled.json();
    assert.deepEqual([error.code, error.message], ['TooManyRequests', 'Please retry again later.']);
    await editor.fill('{"rules": []}');
    await page.getByRole('button', { name: 'Save JSON' }).click();
    await page.getByText('No rules: faults are off. Saved.').waitFor();
    assert.deepEqual(pageErrors, []);
  });
});
