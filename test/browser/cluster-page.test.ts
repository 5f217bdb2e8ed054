// The cluster page in a real browser: Debian's headless Chromium, driven by playwright-core, against
// a real 3-node cluster of `kuberaft node` processes on loopback. The page is opened on a follower
// (a follower shows the leader's view) and followed through: loaded, a write load, a follower
// SIGKILLed (red), restarted (green again), the leader SIGKILLed (a new leader shown). A screenshot
// of each state is saved under a temp directory that is kept and printed.
//
// Chromium is not optional: without it this suite fails and says how to install it (.ci/run does).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { destroyAll, http, ProcessCluster, waitUntil, type NodeProcess } from '../process/harness.js';

const CHROMIUM = process.env.KUBERAFT_TEST_CHROMIUM ?? '/usr/bin/chromium';
/**
 * Without the networking switches Chromium keeps trying to reach Google's services and hangs on a
 * closed network; the sandbox needs user namespaces that CI containers may not give.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Production timing, so that "red within two heartbeat intervals of the leader noticing" is tested at the real scale. */
const HEARTBEAT_INTERVAL_MS = 100;
const ELECTION_TIMEOUT_MS = 1000;
/** One page state to appear: a poll, an election, a restart on a loaded 2-core machine. */
const STATE_WAIT_MS = 30_000;
/** How often the test looks at the page (much more often than the page redraws). */
const LOOK_INTERVAL_MS = 10;
const WRITE_CLIENTS = 8;
/** The write load stops by itself after this long, whatever happens. */
const WRITE_LOAD_MAX_MS = 30_000;
/** Commits per second the chart must show under the load (a loaded machine still does hundreds). */
const COMMITS_PER_SECOND_SEEN_MIN = 20;
const VIEWPORT = { width: 1280, height: 960 };

describe('the cluster page in headless Chromium', () => {
  let cluster: ProcessCluster;
  let context: BrowserContext;
  let page: Page;
  let leader: NodeProcess;
  let pageNode: NodeProcess;
  let victim: NodeProcess;
  const profileDir = mkdtempSync(join(tmpdir(), 'kuberaft-chromium-'));
  const shotsDir = mkdtempSync(join(tmpdir(), 'kuberaft-page-shots-'));
  const consoleErrors: string[] = [];

  const shot = async (name: string): Promise<void> => {
    const path = join(shotsDir, `${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
  };

  /** The row of a member as the page draws it. */
  const row = (id: string): string => `#members tr[data-member="${id}"]`;

  const waitHealth = async (id: string, health: 'up' | 'down'): Promise<number | undefined> => {
    // Evaluated in the page every LOOK_INTERVAL_MS: the first redraw that shows `health` is the one caught.
    const handle = await page.waitForFunction(
      ([selector, want]) => {
        const tr = document.querySelector<HTMLElement>(selector as string);
        if (tr === null || tr.dataset.health !== want) return false;
        return { lastContactMs: tr.dataset.lastContactMs === undefined ? null : Number(tr.dataset.lastContactMs) };
      },
      [row(id), health],
      { polling: LOOK_INTERVAL_MS, timeout: STATE_WAIT_MS },
    );
    const v = (await handle.jsonValue()) as { lastContactMs: number | null };
    return v.lastContactMs ?? undefined;
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does)`);
    cluster = await ProcessCluster.start({ nodes: 3, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, electionTimeoutMs: ELECTION_TIMEOUT_MS });
    leader = await cluster.waitForLeader();
    const followers = [...cluster.nodes.values()].filter((n) => n.id !== leader.id);
    pageNode = followers[0] as NodeProcess;
    victim = followers[1] as NodeProcess;
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: VIEWPORT });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    console.log(`screenshots of each state go to ${shotsDir}`);
  });

  after(async () => {
    await context?.close();
    cluster?.destroy();
    await destroyAll();
    rmSync(profileDir, { recursive: true, force: true });
  });

  it('loads with no console errors and lists 3 voters with the right leader', async () => {
    await page.goto(`${pageNode.url}/`);
    // The node serves the page to anyone, its data only with a token of the read role: the page asks.
    await page.waitForSelector('#token-form:not([hidden])', { timeout: STATE_WAIT_MS });
    // Before a token, the only console messages are Chromium's notes of the API's 401 answers.
    assert.ok(consoleErrors.length > 0 && consoleErrors.every((e) => e.includes('status of 401')), consoleErrors.join('\n'));
    consoleErrors.length = 0;
    await page.fill('#token', cluster.tokens.read);
    await page.click('#token-form button');
    await page.waitForFunction(() => document.querySelectorAll('#members tr[data-health="up"]').length === 3, undefined, { timeout: STATE_WAIT_MS });
    const rows = await page.$$eval('#members tbody tr', (trs) => trs.map((tr) => ({ id: (tr as HTMLElement).dataset.member, role: (tr as HTMLElement).dataset.role })));
    assert.deepEqual(rows.map((r) => r.role), ['voter', 'voter', 'voter']);
    assert.deepEqual(rows.map((r) => r.id).sort(), [...cluster.nodes.keys()].sort());
    assert.equal(await page.textContent('#leader'), leader.id);
    assert.match((await page.textContent(`${row(leader.id)} td:first-child`)) ?? '', /leader/);
    assert.match((await page.textContent('#self')) ?? '', new RegExp(`^${pageNode.id} is a follower, caught up`));
    await shot('1-loaded');
    assert.deepEqual(consoleErrors, []);
  });

  it('a write load makes the commits/s chart move', async () => {
    const stop = Date.now() + WRITE_LOAD_MAX_MS;
    let running = true;
    let written = 0;
    const client = async (c: number): Promise<void> => {
      for (let i = 0; running && Date.now() < stop; i++) {
        const r = await http(`${leader.url}/v1/kv/load-${c}-${i % 100}`, { method: 'PUT', body: `value ${i}`, headers: cluster.headers('write') }).catch(() => undefined);
        if (r?.status === 200) written++;
      }
    };
    const load = Promise.all(Array.from({ length: WRITE_CLIENTS }, (_, c) => client(c)));
    try {
      await page.waitForFunction(
        (min) => Number(document.querySelector<HTMLElement>('[data-chart="commits"]')?.dataset.latest ?? 0) >= min,
        COMMITS_PER_SECOND_SEEN_MIN,
        { timeout: STATE_WAIT_MS },
      );
      await sleep(2_000); // a few more points, for the picture
      await shot('2-write-load');
    } finally {
      running = false;
      await load;
    }
    assert.ok(written > 0);
    assert.deepEqual(consoleErrors, []);
  });

  it("a SIGKILLed follower turns red within two heartbeat intervals of the leader noticing, and green once back", async () => {
    await victim.kill();
    const lastContactMs = await waitHealth(victim.id, 'down');
    // The row turned red on the first view in which the leader's last contact passed the election
    // timeout (the noticing); how far past it that view was tells how late the page showed it.
    assert.ok(lastContactMs !== undefined && lastContactMs >= ELECTION_TIMEOUT_MS, `last contact ${lastContactMs}`);
    assert.ok(
      lastContactMs - ELECTION_TIMEOUT_MS <= 2 * HEARTBEAT_INTERVAL_MS,
      `red ${lastContactMs - ELECTION_TIMEOUT_MS} ms after the leader noticed; the page must show it within ${2 * HEARTBEAT_INTERVAL_MS} ms`,
    );
    assert.match((await page.textContent(`${row(victim.id)} .health`)) ?? '', /not heard from/);
    await shot('3-follower-killed');
    await victim.start();
    await waitHealth(victim.id, 'up');
    assert.deepEqual(consoleErrors, []);
  });

  it('after a SIGKILL of the leader, the new leader is shown', async () => {
    const old = leader;
    await old.kill();
    await page.waitForFunction(
      (oldId) => {
        const shown = document.getElementById('leader')?.textContent ?? '';
        return shown !== oldId && document.querySelector(`#members tr[data-member="${shown}"] .badge.leader`) !== null;
      },
      old.id,
      { timeout: STATE_WAIT_MS },
    );
    const elected = await cluster.waitForLeader();
    assert.equal(await page.textContent('#leader'), elected.id);
    // The new leader does not hear from the dead one: red once its grace of one election timeout ends.
    await waitHealth(old.id, 'down');
    await shot('4-leader-killed');
    assert.deepEqual(consoleErrors, []);
  });
});

describe('the cluster page under bearer-token authorization', () => {
  let cluster: ProcessCluster;
  let context: BrowserContext;
  const profileDir = mkdtempSync(join(tmpdir(), 'kuberaft-chromium-'));

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; .ci/run does)`);
    cluster = await ProcessCluster.start({ nodes: 1 });
    context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: VIEWPORT });
  });

  after(async () => {
    await context?.close();
    cluster?.destroy();
    await destroyAll();
    rmSync(profileDir, { recursive: true, force: true });
  });

  it('asks a real node for a token on 401, refuses a wrong one, keeps the right one in sessionStorage, sends it as a bearer token and never shows it', async () => {
    const node = cluster.node('node-1');
    const token = cluster.tokens.read;
    const authorized = new Set<string>();
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (r.request().headers().authorization === `Bearer ${token}` && r.status() === 200) authorized.add(path);
    });
    await page.goto(`${node.url}/`);
    await page.waitForSelector('#token-form:not([hidden])', { timeout: STATE_WAIT_MS });
    assert.equal(await page.getAttribute('#token', 'type'), 'password');
    // A token the node does not know: the node answers 401 again and the page asks again.
    await page.fill('#token', 'f'.repeat(32));
    await page.click('#token-form button');
    await page.waitForSelector('#token-form:not([hidden])', { timeout: STATE_WAIT_MS });
    await page.fill('#token', token);
    await page.click('#token-form button');
    await page.waitForFunction(() => document.querySelectorAll('#members tr[data-health="up"]').length === 1, undefined, { timeout: STATE_WAIT_MS });
    // Every poll sends it, the slower ones (members, events, metrics) within a second or so.
    await waitUntil('every kind of call to carry the token', () => ['/v1/cluster', '/v1/cluster/members', '/v1/events', '/metrics'].every((p) => authorized.has(p)), STATE_WAIT_MS);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kuberaft.token')), token);
    assert.ok(!(await page.evaluate(() => document.documentElement.outerHTML)).includes(token), 'the token appears nowhere in the page');
    assert.equal(await page.isHidden('#token-form'), true);
  });
});
