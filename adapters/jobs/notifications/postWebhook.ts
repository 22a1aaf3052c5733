import { NotificationSendError } from './notificationSendError.js';

/**
 * POSTs JSON to a webhook. A 2xx is taken; 408, 429, 5xx, a time-out or a connection that fails
 * are worth another attempt; any other answer is a refusal no retry mends.
 */
export const postWebhook = async (
  url: string,
  body: unknown,
  options: { readonly headers: Readonly<Record<string, string>>; readonly timeoutMs: number },
): Promise<string> => {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new NotificationSendError(`${new URL(url).host}: ${why}`, true, { cause: e });
  }
  const text = (await response.text().catch(() => '')).slice(0, 300);
  if (response.ok) return `HTTP ${response.status}`;
  const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
  throw new NotificationSendError(`${new URL(url).host} answered ${response.status}${text ? `: ${text}` : ''}`, retryable);
};
