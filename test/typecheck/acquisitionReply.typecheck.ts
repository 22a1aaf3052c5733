// The REST shim declares the acquisition reply it reads without importing the acquisitions kind;
// this keeps its declaration true to what the kind answers (compiled by `npm run typecheck`).
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import type { AcquisitionReply } from '../../adapters/restShim/writerRestMapping.js';

export const replyOf = (view: AcquisitionView): AcquisitionReply => view;
