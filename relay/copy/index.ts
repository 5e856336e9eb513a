/** The copy stage: one recipient's copy of a spooled message (maker.ts), made by worker threads (pool.ts). */
export { DEFAULT_COPY_DEADLINE, type QuarantineReason } from "./dispatch.js";
export { NO_INSTRUCTIONS, type RelayInstructions, readRelayInstructions } from "./instructions.js";
export {
  type Copy,
  CopyError,
  CopyMaker,
  type CopyMakerOptions,
  type CopyOrder,
  type CopyResult,
  type DeliveryMode,
  type TransformContext,
  type TransformFn,
} from "./maker.js";
export { CopyPool, type CopyPoolOptions } from "./pool.js";
