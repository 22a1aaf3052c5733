/**
 * How a bsread stream is read: `zmtp`, daqflow's own ZMTP 3.0 reader (zmtpSocket.ts: parts are
 * views of the bytes read, no JS object per part: about 9 times less CPU per 200-channel pulse),
 * or `zeromq`, zeromq.js over libzmq (socket I/O on libzmq's own thread; every libzmq transport).
 * Apart from the receiver so that the configuration can name them without loading zeromq.
 */
export const bsreadTransports = ['zmtp', 'zeromq'] as const;
export type BsreadTransport = (typeof bsreadTransports)[number];
