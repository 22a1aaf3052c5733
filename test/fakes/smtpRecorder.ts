import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface RecordedMail {
  readonly from: string;
  readonly to: string[];
  /** The whole message as received (headers and body). */
  readonly raw: string;
}

export interface SmtpRecorder {
  readonly host: string;
  readonly port: number;
  mails(): RecordedMail[];
  close(): Promise<void>;
}

/** A loopback SMTP server (the smtp-server package) that keeps every message it accepts. */
export const startSmtpRecorder = async (): Promise<SmtpRecorder> => {
  const mails: RecordedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    mails: () => [...mails],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
