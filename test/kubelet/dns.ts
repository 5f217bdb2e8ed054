// A small DNS server for the test cluster (the job CoreDNS does in a real one), answering A queries for
// cluster names from a snapshot of the API server's state that the kubelet refreshes:
//   <svc>.<ns>.svc.cluster.local              → ready endpoints' pod IPs (there is no kube-proxy, so the
//                                               ClusterIP would lead nowhere; headless semantics for all)
//   <hostname>.<subdomain>.<ns>.svc.cluster.local → that pod, when a headless Service <subdomain> selects it
//                                               and it is ready (or the Service publishes not-ready addresses)
//   <a-b-c-d>.<ns>.pod.cluster.local          → a.b.c.d, when a pod has that IP
//   kubernetes.default.svc.cluster.local      → the API server's address
// A known name with no A record (e.g. an AAAA query) is NOERROR with no answer, as resolvers expect;
// anything else is NXDOMAIN. Pods find this server through the resolv.conf of their namespace.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

export const CLUSTER_DOMAIN = 'cluster.local';
const DNS_PORT = 53;
const RECORD_TTL_SECONDS = 5;
const HEADER_BYTES = 12;
const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const LABEL_MAX_BYTES = 63;

export interface DnsPod {
  readonly namespace: string;
  readonly ip: string;
  readonly ready: boolean;
  readonly hostname?: string;
  readonly subdomain?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface DnsService {
  readonly namespace: string;
  readonly name: string;
  readonly headless: boolean;
  readonly selector?: Readonly<Record<string, string>>;
  readonly publishNotReadyAddresses: boolean;
}

export interface DnsSnapshot {
  readonly pods: readonly DnsPod[];
  readonly services: readonly DnsService[];
  readonly apiserverIp: string;
}

function selects(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The A records of `name` (lower case, no trailing dot), or undefined when the name does not exist. */
export function resolveClusterName(snap: DnsSnapshot, name: string): string[] | undefined {
  const suffix = `.svc.${CLUSTER_DOMAIN}`;
  if (name.endsWith(`.pod.${CLUSTER_DOMAIN}`)) {
    const [dashed, ns] = name.split('.');
    const ip = (dashed ?? '').replaceAll('-', '.');
    return snap.pods.some((p) => p.ip === ip && p.namespace === ns) ? [ip] : undefined;
  }
  if (!name.endsWith(suffix)) return undefined;
  const parts = name.slice(0, -suffix.length).split('.');
  if (parts.length === 2) {
    const [svcName, ns] = parts;
    if (svcName === 'kubernetes' && ns === 'default') return [snap.apiserverIp];
    const svc = snap.services.find((s) => s.name === svcName && s.namespace === ns);
    if (!svc) return undefined;
    return snap.pods
      .filter((p) => p.namespace === ns && selects(svc.selector, p.labels) && (p.ready || svc.publishNotReadyAddresses))
      .map((p) => p.ip);
  }
  if (parts.length === 3) {
    const [host, subdomain, ns] = parts;
    const svc = snap.services.find((s) => s.name === subdomain && s.namespace === ns && s.headless);
    if (!svc) return undefined;
    const pod = snap.pods.find(
      (p) => p.namespace === ns && p.hostname === host && p.subdomain === subdomain && selects(svc.selector, p.labels),
    );
    if (!pod || !(pod.ready || svc.publishNotReadyAddresses)) return undefined;
    return [pod.ip];
  }
  return undefined;
}

interface Question {
  readonly name: string;
  readonly type: number;
  readonly cls: number;
  readonly end: number;
}

function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < HEADER_BYTES || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = HEADER_BYTES;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg.readUInt8(off);
    off += 1;
    if (len === 0) break;
    if (len > LABEL_MAX_BYTES || off + len > msg.length) return undefined; // compression is not used in questions
    labels.push(msg.toString('ascii', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), cls: msg.readUInt16BE(off + 2), end: off + 4 };
}

function reply(query: Buffer, questionEnd: number, rcode: number, ips: readonly string[]): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  const rd = query.readUInt8(2) & 0x01;
  header.writeUInt8(0x80 | 0x04 | rd, 2); // QR, AA, RD copied
  header.writeUInt8(rcode & 0x0f, 3);
  header.writeUInt16BE(questionEnd > 0 ? 1 : 0, 4);
  header.writeUInt16BE(ips.length, 6);
  const question = questionEnd > 0 ? query.subarray(HEADER_BYTES, questionEnd) : Buffer.alloc(0);
  const answers = ips.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc000 | HEADER_BYTES, 0); // pointer to the question name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(RECORD_TTL_SECONDS, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...answers]);
}

/** Answers one DNS query message from the snapshot. */
export function answerQuery(snap: DnsSnapshot, query: Buffer): Buffer | undefined {
  if (query.length < HEADER_BYTES) return undefined;
  const q = parseQuestion(query);
  if (!q) return reply(query, 0, RCODE_FORMERR, []);
  if (q.cls !== CLASS_IN) return reply(query, q.end, RCODE_NOTIMP, []);
  const ips = resolveClusterName(snap, q.name);
  if (ips === undefined) return reply(query, q.end, RCODE_NXDOMAIN, []);
  return reply(query, q.end, RCODE_NOERROR, q.type === TYPE_A ? ips : []);
}

export class ClusterDnsServer {
  private snapshot: DnsSnapshot;
  private readonly socket: Socket;

  private constructor(apiserverIp: string) {
    this.snapshot = { pods: [], services: [], apiserverIp };
    this.socket = createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => {
      const out = answerQuery(this.snapshot, msg);
      if (out) this.socket.send(out, rinfo.port, rinfo.address);
    });
  }

  static async listen(address: string, apiserverIp: string, port = DNS_PORT): Promise<ClusterDnsServer> {
    const server = new ClusterDnsServer(apiserverIp);
    await new Promise<void>((resolve, reject) => {
      server.socket.once('error', reject);
      server.socket.bind(port, address, () => {
        server.socket.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  update(snapshot: DnsSnapshot): void {
    this.snapshot = snapshot;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
