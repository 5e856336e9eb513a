/** The tracking server's door: tokens (token.ts) and the public HTTP endpoints. */
export { type BotReason, type BotVerdict, classifyClient } from "./bots.js";
export { countryOf } from "./geoip.js";
export {
  createTrackingHandler,
  createTrackingServer,
  startTrackingServer,
  type TrackingDeps,
} from "./server.js";
export { makeKeyring, signToken, type TokenKeyring, verifyToken } from "./token.js";
