import { ValidationError } from '../../events/errors.js';

/** Roles that are not job kinds: the request API and the live projector. */
export const serviceRoles = ['api', 'projector'] as const;

/** What a process runs, resolved from `--roles` / `DAQFLOW_ROLES` against the registered modules. */
export interface Roles {
  /** Every role name this process has, `all` expanded. */
  readonly names: readonly string[];
  has(role: string): boolean;
}

/**
 * Expands `all` and refuses names that are neither `api`, `projector` nor a module's name, with
 * the known names in the message (a typo would otherwise leave a kind without an owner).
 */
export const resolveRoles = (requested: readonly string[], moduleNames: readonly string[]): Roles => {
  const known = [...serviceRoles, ...moduleNames];
  const unknown = requested.filter((r) => r !== 'all' && !known.includes(r));
  if (unknown.length > 0) {
    throw new ValidationError(`unknown role ${unknown.join(', ')} (DAQFLOW_ROLES, --roles): known are all, ${known.join(', ')}`);
  }
  const names = requested.includes('all') ? known : known.filter((r) => requested.includes(r));
  return { names, has: (role) => names.includes(role) };
};
