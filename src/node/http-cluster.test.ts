// The cluster page's routes over real HTTP, on an app whose node answers from fixed data.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClusterView, EventsView, MemberReports } from '../api/types.js';
import { ClientAuth } from './auth.js';
import { createHttpApp, type NodeApi } from './http-api.js';
import { bearer, testTokenSet } from './http-test-support.js';
import type { ClusterPageApi } from './http-cluster.js';
import { loadPageAssets } from './page-assets.js';

function nodeWith(clusterPage: ClusterPageApi | undefined): NodeApi {
  const unused = (): never => {
    throw new Error('not used');
  };
  return {
    id: 'node-1',
    auth: new ClientAuth({ tokens: testTokenSet, anonymousRole: undefined, metricsRequireToken: false }),
    execute: () => Promise.reject(new Error('not used')),
    status: unused,
    digest: unused,
    bootstrap: () => Promise.reject(new Error('not used')),
    isLive: () => true,
    readiness: () => ({ ready: true, reason: 'test' }),
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
    watchStart: () => Promise.reject(new Error('not used')),
    openWatch: unused,
    ...(clusterPage === undefined ? {} : { clusterPage }),
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the cluster page routes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kuberaft-page-'));
  const asked: number[] = [];
  let base = '';
  let bare = '';
  const servers: Server[] = [];

  before(async () => {
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>kuberaft</title>');
    writeFileSync(join(dir, 'page.js'), 'export {};');
    writeFileSync(join(dir, 'page.test.js'), 'not served');
    writeFileSync(join(dir, 'notes.txt'), 'not served');
    const assets = loadPageAssets(dir);
    assert.ok(assets !== undefined);
    const page: ClusterPageApi = {
      cluster: () => Promise.resolve({ node: { id: 'node-1' } } as unknown as ClusterView),
      members: () => Promise.resolve({ members: [] } satisfies MemberReports),
      events: (afterSeq): EventsView => {
        asked.push(afterSeq);
        return { events: [], capacity: 256, latestSeq: 0 };
      },
      assets,
    };
    servers.push(createServer(createHttpApp(nodeWith(page))), createServer(createHttpApp(nodeWith({ ...page, assets: undefined }))));
    base = await listen(servers[0] as Server);
    bare = await listen(servers[1] as Server);
  });
  after(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page at / with a policy that keeps it to this node', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self';.*connect-src 'self'.*frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await res.text(), /<title>kuberaft<\/title>/);
  });

  it('serves its script and the charting library from the node', async () => {
    const js = await fetch(`${base}/ui/page.js`);
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const uplot = await fetch(`${base}/ui/vendor/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.match(await uplot.text(), /uPlot/);
    assert.equal((await fetch(`${base}/ui/vendor/uPlot.min.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  });

  it('serves nothing else from the directory or outside it', async () => {
    for (const path of ['/ui/page.test.js', '/ui/notes.txt', '/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/nope.js']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not-found');
    }
  });

  it('says so when the page was not built', async () => {
    const res = await fetch(`${bare}/`);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /not built.*npm run build/);
  });

  it('answers the JSON the page reads to a read token', async () => {
    const read = { headers: bearer('read') };
    assert.deepEqual(await (await fetch(`${base}/v1/cluster`, read)).json(), { node: { id: 'node-1' } });
    assert.deepEqual(await (await fetch(`${base}/v1/cluster/members`, read)).json(), { members: [] });
    await fetch(`${base}/v1/events`, read);
    await fetch(`${base}/v1/events?after=17`, read);
    assert.deepEqual(asked, [0, 17]);
  });

  it('serves the page without a token but its data only with one', async () => {
    assert.equal((await fetch(`${base}/`)).status, 200);
    assert.equal((await fetch(`${base}/ui/page.js`)).status, 200);
    for (const path of ['/v1/cluster', '/v1/cluster/members', '/v1/events']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 401, path);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
  });

  it('refuses a bad event sequence number', async () => {
    for (const q of ['abc', '-1', '1.5', '9'.repeat(20)]) {
      const res = await fetch(`${base}/v1/events?after=${q}`, { headers: bearer('read') });
      assert.equal(res.status, 400, q);
    }
  });
});
