import type { NatsConnection } from '@nats-io/nats-core';
import { oneCommandConfig, startDaqflow, type Daqflow } from '../app/startDaqflow.js';
import { connectNats } from '../jetstream/connection.js';
import { natsOf, toolServers, type CliContext } from './context.js';

/** A daqflow answering on this prefix, or one started in this process for the command. */
export const withDaqflow = async <T>(
  context: CliContext,
  probeSubject: string,
  work: (nc: NatsConnection, inProcess: boolean) => Promise<T>,
): Promise<T> => {
  const servers = await toolServers(context);
  const nc = await connectNats(natsOf(context, servers), 'daqflow-cli');
  let inProcess: Daqflow | undefined;
  try {
    const running = await nc
      .request(probeSubject, JSON.stringify({ id: 'is-anyone-there' }), { timeout: 1_000 })
      .then(() => true)
      .catch(() => false);
    if (!running) {
      process.stderr.write('no daqflow answering: running one in this process (start `npx daqflow up` to keep jobs running)\n');
      inProcess = await startDaqflow(oneCommandConfig(context.config), servers, context.logger);
    }
    return await work(nc, inProcess !== undefined);
  } finally {
    await inProcess?.stop();
    await nc.close();
    await servers.stop();
  }
};
