/** Why one attempt to send a notification failed, and whether another attempt may succeed. */
export class NotificationSendError extends Error {
  override readonly name = 'NotificationSendError';
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
