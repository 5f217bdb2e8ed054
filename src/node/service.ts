// What a node does with a NodeRequest: run it here when this node may (the leader, or a
// serializable read), or forward it to the leader over the peer transport and relay the answer.
// A forwarded request is executed by the leader only; it is never forwarded a second time. It
// carries the principal the follower authorized; the leader (which trusts its authenticated peers)
// checks that principal's role against the request again.
import type { NodeStatus } from '../api/types.js';
import { encodeCommand, validateLeaseId, type Command, type KeyCommand, type LeaseId, type RequestId } from '../kv/command.js';
import type { ApplyResult } from '../kv/state-machine.js';
import { assertNever } from '../raft/assert.js';
import { findMember, isVoter } from '../raft/membership.js';
import type { Membership, MembershipChange, NodeId } from '../raft/types.js';
import type { Logger } from '../log/logger.js';
import { roleIncludes } from '../auth/roles.js';
import type { Principal } from './auth.js';
import { requiredRole } from './auth.js';
import type { RaftDriver } from './driver.js';
import { NodeError, isNodeErrorCode, toNodeError } from './errors.js';
import type { LeaseKeeper } from './leases.js';
import type { DriverNetwork } from './ports.js';
import {
  decodeWire,
  encodeWire,
  isAdmin,
  needsLeader,
  validateForwarded,
  type MemberView,
  type NodeRequest,
  type NodeResponse,
  type RequestIdWire,
  type Served,
} from './requests.js';

/** A forwarded request waits at most this long for the leader's answer (covers its own timeouts). */
export const FORWARD_TIMEOUT_MS = 12_000;
/** How long a request waits for a leader to be elected before failing with 503. */
export const LEADER_WAIT_MS = 3_000;
/** How long a join waits for the learner to catch up. */
export const MEMBERSHIP_WAIT_MS = 30_000;
/** How long a leadership transfer may take (the core abandons it after one election timeout). */
export const TRANSFER_WAIT_MS = 10_000;
/** Polling interval while waiting for a leader, a transfer or a learner to catch up. */
const POLL_MS = 20;

/** Requests whose failure in transit leaves nothing half-done: they change no replicated state. */
const NOT_MUTATING: ReadonlySet<NodeRequest['kind']> = new Set(['get', 'list', 'read-index', 'lease-get', 'lease-keepalive']);

export class NodeService {
  constructor(
    readonly id: NodeId,
    private readonly driver: RaftDriver,
    private readonly network: DriverNetwork,
    private readonly log: Logger,
    /** This node's own GET /v1/status, for peers that ask (kind 'status'). */
    private readonly localStatus: () => NodeStatus,
    private readonly leases: LeaseKeeper,
  ) {
    network.onRequest((from, payload) => this.serveForwarded(from, payload));
  }

  /** Another member's own status, asked over the peer transport (this node's: locally). */
  async memberStatus(id: NodeId, timeoutMs: number): Promise<NodeStatus> {
    if (id === this.id) return this.localStatus();
    let reply: Uint8Array;
    try {
      reply = await this.network.request(id, encodeWire({ kind: 'status' } satisfies NodeRequest), timeoutMs);
    } catch (e) {
      throw new NodeError('member-unreachable', `${id} did not answer: ${(e as Error).message}`);
    }
    const served = this.decodeReply(reply, id);
    const r = served.result;
    if (r.kind !== 'status' || !isNodeStatus(r.status)) throw new NodeError('internal', `${id} answered a status request with something else`);
    return r.status;
  }

  /**
   * A linearizable read point: an applied index at least the commit index of some moment after this
   * call, reached by this node's state machine. A follower asks the leader (ReadIndex) and waits until
   * it has applied that far. Watches that start "now" start after it, so they never begin before a
   * change the client could already have seen.
   */
  async readPoint(principal: Principal): Promise<number> {
    const served = await this.execute({ kind: 'read-index' }, principal);
    if (served.result.kind !== 'read-index') throw new NodeError('internal', `expected a read-index response, got ${served.result.kind}`);
    await this.waitApplied(served.result.index);
    return this.driver.sm.appliedIndex;
  }

  private async waitApplied(index: number): Promise<void> {
    if (this.driver.sm.appliedIndex >= index) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new NodeError('timeout', `this node did not apply index ${index} within ${FORWARD_TIMEOUT_MS} ms (it is behind the leader); retry or ask another node`));
      }, FORWARD_TIMEOUT_MS);
      const stop = this.driver.onChange(() => {
        if (this.driver.sm.appliedIndex < index) return;
        clearTimeout(timer);
        stop();
        resolve();
      });
    });
  }

  /** Runs a client or admin request, which `principal` was authorized for, here or on the leader. */
  async execute(req: NodeRequest, principal: Principal): Promise<Served<NodeResponse>> {
    checkRole(req, principal);
    if (!needsLeader(req)) return { servedBy: this.id, result: this.readLocal(req) };
    const leader = await this.awaitLeader();
    if (leader === this.id) {
      try {
        return { servedBy: this.id, result: await this.executeOnLeader(req, principal) };
      } catch (e) {
        const err = toNodeError(e);
        // Leadership moved between the check and the call: forward once to the new leader.
        if (err.code !== 'not-leader' || err.leader === undefined || err.leader === this.id) throw err;
        return this.forward(err.leader as NodeId, req, principal);
      }
    }
    return this.forward(leader, req, principal);
  }

  private async awaitLeader(): Promise<NodeId> {
    const deadline = Date.now() + LEADER_WAIT_MS;
    for (;;) {
      const leader = this.driver.status().leader;
      if (leader !== undefined) return leader;
      if (Date.now() >= deadline) throw new NodeError('not-leader', 'no leader is known (election in progress or no quorum); retry shortly');
      await sleep(POLL_MS);
    }
  }

  private async forward(leader: NodeId, req: NodeRequest, principal: Principal): Promise<Served<NodeResponse>> {
    let reply: Uint8Array;
    try {
      reply = await this.network.request(leader, encodeWire({ ...req, principal }), FORWARD_TIMEOUT_MS);
    } catch (e) {
      const mutating = !NOT_MUTATING.has(req.kind);
      throw new NodeError(
        mutating ? 'maybe-committed' : 'leader-unreachable',
        `forwarding to the leader ${leader} failed: ${(e as Error).message}${mutating ? '; the request may or may not have been applied' : ''}`,
        leader,
      );
    }
    return this.decodeReply(reply, leader);
  }

  private decodeReply(reply: Uint8Array, from: NodeId): Served<NodeResponse> {
    const decoded = decodeWire(reply) as { ok?: unknown; servedBy?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; leader?: unknown } };
    if (decoded.ok === true && typeof decoded.servedBy === 'string') return { servedBy: decoded.servedBy, result: decoded.result as NodeResponse };
    const err = decoded.error ?? {};
    const code = typeof err.code === 'string' && isNodeErrorCode(err.code) ? err.code : 'internal';
    throw new NodeError(code, typeof err.message === 'string' ? err.message : `${from} failed the request`, typeof err.leader === 'string' ? err.leader : undefined);
  }

  private async serveForwarded(from: NodeId, payload: Uint8Array): Promise<Uint8Array> {
    try {
      const { request: req, principal: carried } = validateForwarded(decodeWire(payload));
      // A member of an older version sends no principal: it authorized the request by its own rules,
      // and it proved it holds the cluster secret.
      const principal: Principal = carried ?? { name: `forwarded-by-${from}`, role: 'admin' };
      checkRole(req, principal);
      if (!needsLeader(req)) return encodeWire({ ok: true, servedBy: this.id, result: this.readLocal(req) });
      const leader = this.driver.status().leader;
      if (leader !== this.id)
        throw new NodeError('not-leader', leader === undefined ? 'no leader is known; retry shortly' : `this node is not the leader; ask ${leader}`, leader);
      return encodeWire({ ok: true, servedBy: this.id, result: await this.executeOnLeader(req, principal, from) });
    } catch (e) {
      const err = toNodeError(e);
      if (err.code === 'internal') this.log.warn('forwarded request failed', { from, err: e });
      return encodeWire({ ok: false, error: { code: err.code, message: err.message, leader: err.leader } });
    }
  }

  private readLocal(req: NodeRequest): NodeResponse {
    const sm = this.driver.sm;
    switch (req.kind) {
      case 'get': {
        const e = sm.get(req.key);
        if (e === undefined) return { kind: 'get', value: null, revision: 0 };
        return e.lease === undefined ? { kind: 'get', value: e.value, revision: e.revision } : { kind: 'get', value: e.value, revision: e.revision, lease: e.lease };
      }
      case 'list': {
        const r = sm.list(req.prefix, req.limit);
        return { kind: 'list', items: r.entries, more: r.more };
      }
      case 'status':
        return { kind: 'status', status: this.localStatus() };
      default:
        throw new NodeError('internal', `${req.kind} is not a local read`);
    }
  }

  private async executeOnLeader(req: NodeRequest, principal: Principal, via?: NodeId): Promise<NodeResponse> {
    // Membership changes are rare and consequential: say who asked.
    if (isAdmin(req)) this.log.info('admin request', { request: req, by: principal.name, ...(via === undefined ? {} : { via }) });
    switch (req.kind) {
      case 'put':
        return toResponse(await this.write(withRequestId({ kind: 'put', key: req.key, value: req.value, ...leaseOf(req.lease) }, req.requestId)));
      case 'delete':
        return toResponse(await this.write(withRequestId({ kind: 'delete', key: req.key }, req.requestId)));
      case 'cas':
        return toResponse(
          await this.write(withRequestId({ kind: 'cas', key: req.key, expected: req.expected ?? undefined, value: req.value, ...leaseOf(req.lease) }, req.requestId)),
        );
      case 'lease-grant':
        return toResponse(await this.write({ kind: 'lease-grant', ttlMs: req.ttlMs }));
      case 'lease-revoke':
        return toResponse(await this.write({ kind: 'lease-revoke', lease: validateLeaseId(req.id) }));
      case 'lease-keepalive': {
        const id = validateLeaseId(req.id);
        // Acknowledged only once this node's leadership is confirmed after the request arrived (leases.ts).
        await this.driver.readBarrier();
        return { kind: 'lease', id, ttlMs: this.leases.keepAlive(id) };
      }
      case 'lease-get': {
        const id = validateLeaseId(req.id);
        await this.driver.readBarrier();
        const remainingMs = this.leases.remainingMs(id);
        const info = this.driver.sm.lease(id);
        if (info === undefined) throw new NodeError('lease-not-found', `lease ${id} does not exist (it expired or was revoked)`);
        return { kind: 'lease-status', id, ttlMs: info.ttlMs, remainingMs, keys: info.keyCount };
      }
      case 'read-index':
        await this.driver.readBarrier();
        return { kind: 'read-index', index: this.driver.sm.appliedIndex };
      case 'get':
      case 'list':
        await this.driver.readBarrier();
        return this.readLocal(req);
      case 'add-learner':
        return this.changeMembership({ kind: 'add-learner', id: req.id as NodeId, address: req.address });
      case 'promote':
        return this.changeMembership({ kind: 'promote', id: req.id as NodeId });
      case 'remove':
        return this.changeMembership({ kind: 'remove', id: req.id as NodeId });
      case 'transfer':
        return this.transfer(req.to as NodeId);
      case 'join':
        return this.join(req.id as NodeId, req.address);
      case 'leave':
        return this.changeMembership({ kind: 'remove', id: req.id as NodeId });
      case 'status':
        return this.readLocal(req);
      default:
        return assertNever(req, 'request');
    }
  }

  private async write(cmd: Command): Promise<{ result: ApplyResult; index: number }> {
    const data = encodeCommand(cmd);
    const { result, index } = await this.driver.propose(data);
    if (result === undefined) throw new NodeError('internal', 'a command entry produced no result');
    if (result.kind === 'rejected') {
      switch (result.code) {
        case 'lease-not-found':
        case 'too-many-leases':
          throw new NodeError(result.code, result.message);
        case 'request-superseded':
        case 'malformed-command':
          throw new NodeError('bad-request', result.message);
        default:
          return assertNever(result, 'refusal');
      }
    }
    return { result, index };
  }

  private async changeMembership(change: MembershipChange): Promise<NodeResponse> {
    const index = await this.driver.proposeMembership(change);
    return { kind: 'membership', index, members: membersOf(this.driver.status().membership) };
  }

  private async transfer(to: NodeId): Promise<NodeResponse> {
    await this.driver.transferLeadership(to);
    const deadline = Date.now() + TRANSFER_WAIT_MS;
    for (;;) {
      const s = this.driver.status();
      if (s.leader === to) return { kind: 'transfer', leader: to };
      if (s.role !== 'leader' && s.leader !== undefined) throw new NodeError('not-leader', `leadership went to ${s.leader}, not ${to}`, s.leader);
      if (Date.now() >= deadline) throw new NodeError('timeout', `${to} did not take over within ${TRANSFER_WAIT_MS} ms; it may be unreachable or behind — retry`);
      await sleep(POLL_MS);
    }
  }

  /** The original system's join: add as a learner if needed, wait until caught up, promote. */
  private async join(id: NodeId, address: string): Promise<NodeResponse> {
    const current = this.driver.status().membership;
    const member = findMember(current, id);
    if (member !== undefined && member.address !== address)
      throw new NodeError('member-exists', `${id} is a member with address ${member.address}; remove it first to re-add it at ${address}`);
    if (member === undefined) await this.driver.proposeMembership({ kind: 'add-learner', id, address });
    if (isVoter(this.driver.status().membership, id)) return { kind: 'membership', index: this.driver.status().commit, members: membersOf(this.driver.status().membership) };
    const deadline = Date.now() + MEMBERSHIP_WAIT_MS;
    for (;;) {
      const s = this.driver.status();
      const p = s.progress.get(id);
      if (s.role !== 'leader') throw new NodeError('not-leader', 'leadership changed during the join; retry', s.leader);
      if (p !== undefined && p.match >= s.commit) break;
      if (Date.now() >= deadline) throw new NodeError('timeout', `${id} did not catch up within ${MEMBERSHIP_WAIT_MS} ms; it stays a learner — retry the join`);
      await sleep(POLL_MS);
    }
    return this.changeMembership({ kind: 'promote', id });
  }
}

/** The front door authorized the principal; this catches a route or a peer that asks for more. */
function checkRole(req: NodeRequest, principal: Principal): void {
  const need = requiredRole(req);
  if (!roleIncludes(principal.role, need))
    throw new NodeError('forbidden', `${principal.name === 'anonymous' ? 'requests without a token' : `token "${principal.name}"`} have the ${principal.role} role; ${req.kind} needs ${need}`);
}

function leaseOf(id: number | undefined): { lease?: LeaseId } {
  return id === undefined ? {} : { lease: validateLeaseId(id) };
}

function withRequestId(cmd: KeyCommand, id: RequestIdWire | undefined): Command {
  if (id === undefined) return cmd;
  const requestId: RequestId = { clientId: id.client, seq: id.seq };
  return { ...cmd, requestId };
}

function toResponse(r: { result: ApplyResult; index: number }): NodeResponse {
  const a = r.result;
  switch (a.kind) {
    case 'put':
      return { kind: 'put', revision: a.revision };
    case 'delete':
      return { kind: 'delete', deleted: a.deleted, revision: r.index };
    case 'cas':
      return { kind: 'cas', ok: a.ok, revision: a.ok ? a.revision : r.index };
    case 'rejected':
      throw new NodeError('bad-request', a.message);
    case 'lease-grant':
      return { kind: 'lease', id: a.id, ttlMs: a.ttlMs };
    case 'lease-revoke':
      return { kind: 'lease-revoke', revoked: a.revoked, keysDeleted: a.keysDeleted, revision: a.revision };
    default:
      return assertNever(a, 'apply result');
  }
}

export function membersOf(m: Membership): MemberView[] {
  return m.members.map((x) => ({ id: x.id, address: x.address, role: x.role }));
}

/** The shape of a status that came from the network, enough for the cluster page to render it safely. */
function isNodeStatus(v: unknown): v is NodeStatus {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  const numbers = ['term', 'commitIndex', 'appliedIndex', 'lastIndex', 'snapshotIndex', 'snapshotSizeBytes', 'pendingMembershipIndex'];
  return typeof o.id === 'string' && typeof o.role === 'string' && Array.isArray(o.members) && numbers.every((k) => typeof o[k] === 'number');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
