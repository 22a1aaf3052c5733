import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';

/** A new nkey user: its seed in a file (as `nk -gen user` writes it) and its public key for the server. */
export const createNkeyUser = (dir: string): { seedFile: string; publicKey: string } => {
  const user = createUser();
  const seedFile = join(dir, 'daqflow.nk');
  writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  return { seedFile, publicKey: user.getPublicKey() };
};
