// `host:port` addresses as written in flags, env, YAML and member records: an IPv4 address, a bracketed
// IPv6 address (`[::1]:7001`) or a DNS name (pod DNS names in Kubernetes), and a port in 1..65535.
import { isIPv4, isIPv6 } from 'node:net';

export const PORT_MIN = 1;
export const PORT_MAX = 65535;
/** RFC 1035: a DNS name is at most 253 characters, each label at most 63. */
export const DNS_NAME_MAX_CHARS = 253;
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export interface HostPort {
  /** IPv6 addresses without brackets, ready for `listen({host, port})`. */
  readonly host: string;
  readonly port: number;
}

export type HostPortParse = { readonly ok: true; readonly value: HostPort } | { readonly ok: false; readonly problem: string };

export function parseHostPort(text: string): HostPortParse {
  const fail = (problem: string): HostPortParse => ({ ok: false, problem });
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return fail('must be [IPv6]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return fail(`"${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail('must be host:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail('an IPv6 address must be in brackets: [addr]:port');
    if (host.length === 0) return fail('host is empty');
    if (!isIPv4(host) && !isDnsName(host)) return fail(`"${host}" is neither an IPv4 address nor a DNS name`);
  }
  if (!/^\d{1,5}$/.test(portText)) return fail(`port must be an integer in ${PORT_MIN}..${PORT_MAX}`);
  const port = Number(portText);
  if (port < PORT_MIN || port > PORT_MAX) return fail(`port must be an integer in ${PORT_MIN}..${PORT_MAX}`);
  return { ok: true, value: { host, port } };
}

export function formatHostPort(hp: HostPort): string {
  return isIPv6(hp.host) ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** 0.0.0.0 or :: — fine to listen on, meaningless as an address others dial. */
export function isUnspecifiedHost(host: string): boolean {
  return host === '0.0.0.0' || (isIPv6(host) && /^[0:]+$/.test(host));
}

export function isDnsName(host: string): boolean {
  if (host.length > DNS_NAME_MAX_CHARS) return false;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  const labels = name.split('.');
  // An all-numeric dotted name is a malformed IPv4 address, not a DNS name.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => DNS_LABEL.test(l));
}
