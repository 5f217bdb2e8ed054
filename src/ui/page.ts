// The cluster page: polls the node that serves it and redraws.
//
// Polling rather than server-sent events: the node keeps no state per open page, every call carries
// the bearer token in a header (EventSource cannot send one), and each answer is computed when it is
// asked for. The leader's view is polled once per heartbeat interval, one call at a time, so a member
// the leader has just noticed silent (its last contact passed the election timeout) is drawn red at
// most one heartbeat interval plus one call later: within two heartbeat intervals of the noticing.
import type { ClusterView, EventsView, MemberReports, NodeEvent } from '../api/types.js';
import { AuthRequired, CallFailed, storeToken } from './api.js';
import { getJson, getText } from './api.js';
import { Charts } from './charts.js';
import { parseMetrics } from './prometheus.js';
import { PointWindow, readingOf } from './rates.js';
import { byId, renderEvents, renderMembers, renderSummary } from './render.js';

/** Members' own statuses, events and metrics: once a second (rates are per second anyway). */
const SLOW_POLL_MS = 1_000;
/** Before the first answer tells the node's heartbeat interval. */
const HEARTBEAT_INTERVAL_MS_DEFAULT = 100;
/** Never poll faster than this, whatever the heartbeat interval. */
const CLUSTER_POLL_MIN_MS = 20;
/** One call; the fan-out to members waits at most 1 s per member, concurrently. */
const CALL_TIMEOUT_MS = 5_000;
/** Events kept on the page (the node keeps as many). */
const EVENTS_KEPT_MAX = 256;

type Source = 'cluster' | 'members' | 'events' | 'metrics';

/** Runs `fn` every `interval()` ms, one call at a time: a slow answer delays the next call, never piles them up. */
function poll(interval: () => number, fn: () => Promise<void>, paused: () => boolean): void {
  const run = async (): Promise<void> => {
    const started = performance.now();
    if (!paused()) await fn();
    window.setTimeout(() => void run(), Math.max(0, interval() - (performance.now() - started)));
  };
  void run();
}

class Page {
  private view: ClusterView | undefined;
  private reports: MemberReports | undefined;
  private events: NodeEvent[] = [];
  private afterSeq = 0;
  private readonly points = new PointWindow();
  private readonly charts = new Charts(byId('charts'));
  private readonly problems = new Map<Source, string>();
  private waitingForToken = false;

  start(): void {
    const paused = (): boolean => this.waitingForToken;
    const heartbeat = (): number => Math.max(CLUSTER_POLL_MIN_MS, this.view?.node.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT);
    poll(heartbeat, () => this.guard('cluster', () => this.pollCluster()), paused);
    poll(() => SLOW_POLL_MS, () => this.guard('members', () => this.pollMembers()), paused);
    poll(() => SLOW_POLL_MS, () => this.guard('events', () => this.pollEvents()), paused);
    poll(() => SLOW_POLL_MS, () => this.guard('metrics', () => this.pollMetrics()), paused);
    const form = byId('token-form') as HTMLFormElement;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const input = byId('token') as HTMLInputElement;
      const token = input.value.trim();
      input.value = '';
      if (token === '') return;
      storeToken(token);
      form.hidden = true;
      this.waitingForToken = false;
    });
  }

  private async guard(source: Source, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.problems.delete(source);
    } catch (e) {
      if (e instanceof AuthRequired) {
        this.askForToken(e.message);
        return;
      }
      this.problems.set(source, e instanceof CallFailed ? e.message : `${source}: ${String(e)}`);
    } finally {
      this.showProblems();
    }
  }

  private askForToken(why: string): void {
    if (this.waitingForToken) return;
    this.waitingForToken = true;
    byId('token-why').textContent = `${why}: enter a bearer token with the read role. It is kept in this tab only (sessionStorage).`;
    const form = byId('token-form') as HTMLFormElement;
    form.hidden = false;
    (byId('token') as HTMLInputElement).focus();
  }

  private showProblems(): void {
    const box = byId('problems');
    box.hidden = this.problems.size === 0;
    box.textContent = [...this.problems.values()].join(' · ');
    // What is drawn is old when the node itself does not answer.
    document.body.classList.toggle('stale', this.problems.has('cluster'));
  }

  private async pollCluster(): Promise<void> {
    const view = await getJson<ClusterView>('v1/cluster', CALL_TIMEOUT_MS);
    this.view = view;
    renderSummary(view);
    renderMembers(view, this.reports);
    byId('updated').textContent = new Date().toLocaleTimeString('en-GB', { hour12: false });
    byId('poll-interval').textContent = `${Math.max(CLUSTER_POLL_MIN_MS, view.node.heartbeatIntervalMs)} ms`;
  }

  private async pollMembers(): Promise<void> {
    this.reports = await getJson<MemberReports>('v1/cluster/members', CALL_TIMEOUT_MS);
    if (this.view !== undefined) renderMembers(this.view, this.reports);
  }

  private async pollEvents(): Promise<void> {
    const r = await getJson<EventsView>(`v1/events?after=${this.afterSeq}`, CALL_TIMEOUT_MS);
    if (r.latestSeq < this.afterSeq) {
      // The node restarted and numbers its events from 1 again.
      this.events = [];
      this.afterSeq = 0;
      return;
    }
    if (r.events.length === 0 && this.afterSeq > 0) return;
    this.events = [...this.events, ...r.events].slice(-EVENTS_KEPT_MAX);
    this.afterSeq = r.latestSeq;
    renderEvents(this.events);
  }

  private async pollMetrics(): Promise<void> {
    const text = await getText('metrics', CALL_TIMEOUT_MS);
    const p = this.points.add(readingOf(parseMetrics(text), Date.now()));
    if (p !== undefined) this.charts.update(this.points.all());
  }
}

new Page().start();
