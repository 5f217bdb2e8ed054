// Client roles: admin ⊇ write ⊇ read. One ordering, used by every check.
import { CLIENT_ROLES, type ClientRole } from '../api/types.js';

export type { ClientRole } from '../api/types.js';
export { CLIENT_ROLES } from '../api/types.js';

const RANK: Readonly<Record<ClientRole, number>> = { read: 1, write: 2, admin: 3 };

export function isClientRole(value: unknown): value is ClientRole {
  return typeof value === 'string' && (CLIENT_ROLES as readonly string[]).includes(value);
}

/** Whether a holder of `have` may do what needs `need`. */
export function roleIncludes(have: ClientRole, need: ClientRole): boolean {
  return RANK[have] >= RANK[need];
}
