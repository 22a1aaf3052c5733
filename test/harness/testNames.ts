import { randomBytes } from 'node:crypto';

/** A short random token usable in database, stream and subject names. */
export const uniqueToken = (): string => randomBytes(5).toString('hex');

/** A JetStream stream name and subject prefix that no other spec file uses. */
export const testStream = (): { stream: string; subjectPrefix: string } => {
  const t = uniqueToken();
  return { stream: `T_${t}`, subjectPrefix: `t_${t}.events` };
};
