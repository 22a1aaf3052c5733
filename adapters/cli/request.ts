import { DaqflowError, ValidationError } from '../../events/errors.js';
import { connectNats } from '../jetstream/connection.js';
import { permissionRefusal } from './natsRequest.js';
import { cliContext, toolServers, type GlobalOptions, natsOf } from './context.js';

export interface RequestOptions extends GlobalOptions {
  readonly timeoutMs: string;
}

/**
 * `daqflow request <subject> [json]`: sends one request to a daqflow endpoint and prints the
 * reply; a service error prints its code and body on stderr and exits non-zero.
 */
export const runRequest = async (subject: string, body: string | undefined, options: RequestOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  if (body !== undefined && body.trim() !== '') {
    try {
      JSON.parse(body);
    } catch (e) {
      throw new ValidationError(`the request body is not JSON: ${(e as Error).message}`);
    }
  }
  const servers = await toolServers(context);
  const nc = await connectNats(natsOf(context, servers), 'daqflow-request-cli');
  try {
    const reply = await nc
      .request(subject, body ?? '', { timeout: Number(options.timeoutMs) })
      .catch((e: unknown) => {
        const refusal = permissionRefusal(nc, subject, e);
        if (refusal) throw refusal;
        throw new DaqflowError('STORE_UNAVAILABLE', `no answer on ${subject} within ${options.timeoutMs} ms: is \`daqflow up\` running? (${(e as Error).message})`);
      });
    const text = reply.string();
    let pretty = text;
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: print as it came
    }
    const code = reply.headers?.get('Nats-Service-Error-Code');
    if (code) {
      process.stderr.write(`error ${code}: ${reply.headers?.get('Nats-Service-Error') ?? ''}\n${pretty}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${pretty}\n`);
  } finally {
    await nc.close();
    await servers.stop();
  }
};
