// Draws the page's text parts from data: the cluster summary, the members table, the events list.
// Everything from the network is set with textContent, never parsed as HTML.
import type { ClusterView, NodeEvent, NodeEventBody } from '../api/types.js';
import { assertNever } from './assert.js';
import { memberRows, selfSummary, type MemberRow } from './members.js';
import type { MemberReports } from '../api/types.js';

export function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no element #${id}`);
  return el;
}

function cell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function num(v: number | null): string {
  return v === null ? '–' : v.toLocaleString('en-US');
}

export function formatBytes(v: number | null): string {
  if (v === null) return '–';
  if (v < 1024) return `${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatAge(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms < 1000) return `${ms} ms ago`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s ago`;
  return `${Math.round(ms / 60_000)} min ago`;
}

export function renderSummary(view: ClusterView): void {
  const l = view.leader;
  byId('cluster-id').textContent = (l ?? view.node).clusterId ?? 'none yet';
  byId('leader').textContent = l?.id ?? 'none known';
  byId('term').textContent = num((l ?? view.node).term);
  byId('commit').textContent = num((l ?? view.node).commitIndex);
  const pending = (l ?? view.node).pendingMembershipIndex;
  const banner = byId('pending');
  banner.hidden = pending === 0;
  banner.textContent = pending === 0 ? '' : `A membership change is pending: appended at index ${pending.toLocaleString('en-US')}, not yet committed.`;
  const self = byId('self');
  self.textContent = selfSummary(view);
  self.className = view.caughtUp === false || view.leader === null ? 'warn' : '';
  document.title = `kuberaft · ${view.node.id}`;
}

function memberRow(body: HTMLTableSectionElement, m: MemberRow): void {
  const row = body.insertRow();
  row.className = `member ${m.health}`;
  row.dataset.member = m.id;
  row.dataset.health = m.health;
  row.dataset.role = m.role;
  if (m.lastContactMs !== null) row.dataset.lastContactMs = String(m.lastContactMs);
  const name = cell(row, m.id);
  if (m.isLeader) name.append(' ', badge('leader', 'leader'));
  if (m.isSelf) name.append(' ', badge('this node', 'self'));
  cell(row, m.health === 'up' ? 'active' : m.health === 'down' ? 'not heard from' : '?', 'health');
  cell(row, m.role);
  cell(row, m.address, 'mono');
  cell(row, num(m.matchIndex), 'n');
  cell(row, num(m.lagEntries), 'n');
  cell(row, m.isLeader ? '–' : formatAge(m.lastContactMs), 'n');
  const applied = cell(row, num(m.appliedIndex), 'n');
  if (m.reportError !== null) applied.title = m.reportError;
  cell(row, num(m.snapshotIndex), 'n');
  cell(row, formatBytes(m.snapshotSizeBytes), 'n');
}

function badge(text: string, kind: string): HTMLElement {
  const b = document.createElement('span');
  b.className = `badge ${kind}`;
  b.textContent = text;
  return b;
}

export function renderMembers(view: ClusterView, reports: MemberReports | undefined): void {
  const table = byId('members') as HTMLTableElement;
  const body = table.tBodies[0] ?? table.createTBody();
  body.replaceChildren();
  for (const m of memberRows(view, reports)) memberRow(body, m);
  const source = view.leader === null ? `${view.node.id}'s own view (no leader's view: ${view.leaderError?.message ?? '?'})` : `the leader ${view.leader.id}`;
  byId('members-source').textContent = `As seen by ${source}.`;
}

export function eventText(e: NodeEventBody): string {
  switch (e.kind) {
    case 'leader-changed':
      if (e.previous === null) return `leader is ${e.leader}`;
      return e.previous === e.leader ? `${e.leader} elected leader again` : `leader changed to ${e.leader} (was ${e.previous})`;
    case 'configuration-received':
      return `joined a cluster of ${e.members.map((m) => `${m.id} (${m.role})`).join(', ')}`;
    case 'member-added':
      return `${e.member} added as ${e.role} at ${e.address}`;
    case 'member-promoted':
      return `${e.member} promoted to voter`;
    case 'member-removed':
      return `${e.member} removed`;
    case 'member-address-changed':
      return `${e.member} moved to ${e.address}`;
    case 'snapshot-taken':
      return `snapshot taken at index ${e.index.toLocaleString('en-US')} (${formatBytes(e.sizeBytes)})`;
    case 'snapshot-installed':
      return `snapshot installed from the leader at index ${e.index.toLocaleString('en-US')} (${formatBytes(e.sizeBytes)})`;
    default:
      return assertNever(e);
  }
}

export function renderEvents(events: readonly NodeEvent[]): void {
  const list = byId('events');
  list.replaceChildren();
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i] as NodeEvent;
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    const time = document.createElement('time');
    time.dateTime = e.at;
    time.textContent = new Date(e.at).toLocaleTimeString('en-GB', { hour12: false }) + `.${String(new Date(e.at).getMilliseconds()).padStart(3, '0')}`;
    const term = document.createElement('span');
    term.className = 'term';
    term.textContent = `term ${e.term}`;
    li.append(time, ' ', term, ' ', eventText(e));
    list.append(li);
  }
  byId('events-empty').hidden = events.length > 0;
}
