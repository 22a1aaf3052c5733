/** Node's codes for a server certificate the client does not trust (unknown CA, expired, wrong name). */
export const untrustedServerCode = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME/;

/** OpenSSL's words when the server refuses the client's certificate, or wanted one. */
export const refusedClientMessage = /alert (bad certificate|unknown ca|certificate required|certificate unknown|handshake failure)|certificate required/i;

/** `e` and its causes, outermost first (at most five), as code and message. */
export const errorChain = (e: unknown): Array<{ code?: unknown; message: string }> => {
  const out: Array<{ code?: unknown; message: string }> = [];
  for (let at = e, depth = 0; at !== undefined && at !== null && depth < 5; at = (at as { cause?: unknown }).cause, depth++) {
    out.push({ code: (at as { code?: unknown }).code, message: at instanceof Error ? at.message : String(at) });
  }
  return out;
};
