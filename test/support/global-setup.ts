/**
 * Starts the servers every test file may share (one private redis-server per
 * run) and hands their addresses to tests through vitest's provide/inject.
 */
import type { TestProject } from "vitest/node";
import { startRedisServer } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await startRedisServer();
  project.provide("redisUrl", redis.url);
  return async () => {
    await redis.stop();
  };
}
