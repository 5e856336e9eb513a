/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it: the holder renews every `retryPeriodMs`; another
 * candidate takes the Lease only after it has seen the same record unchanged
 * for `leaseDurationMs` by its own clock (so clock skew between nodes does
 * not matter); writes use the resourceVersion, so two candidates can never
 * both win one round. A leader that cannot renew within `renewDeadlineMs`
 * steps down before anyone else can take over. On stop the Lease is released
 * so a successor does not wait out the duration.
 */
import type { Logger } from "pino";
import { isConflict, isNotFound, type KubeClient, type KubeObject, type ResourceRef } from "./client.js";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  logger: Logger;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  private get ref(): ResourceRef {
    return { apiVersion: "coordination.k8s.io/v1", plural: "leases", namespace: this.options.namespace };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  start(): void {
    this.stopped = false;
    const loop = async () => {
      if (this.stopped) return;
      this.running = this.round();
      await this.running;
      if (!this.stopped) {
        this.timer = setTimeout(loop, this.options.retryPeriodMs ?? 2_000);
        this.timer.unref();
      }
    };
    void loop();
  }

  /** Stops campaigning; a leader releases the Lease first. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    if (this.leading) {
      await this.release().catch((error: unknown) =>
        this.options.logger.warn({ err: error }, "could not release the lease"),
      );
      this.setLeading(false);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.options.logger.info(
      { identity: this.options.identity, leading },
      leading ? "became leader" : "stopped leading",
    );
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async round(): Promise<void> {
    try {
      const acquired = await this.tryAcquireOrRenew();
      if (acquired) this.lastRenew = this.now();
      if (acquired) this.setLeading(true);
      else if (!this.leading) return;
      else this.setLeading(false);
    } catch (error) {
      this.options.logger.warn({ err: error }, "lease round failed");
      if (this.leading && this.now() - this.lastRenew > (this.options.renewDeadlineMs ?? 10_000))
        this.setLeading(false);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, name, namespace } = this.options;
    const durationMs = this.options.leaseDurationMs ?? 15_000;
    const now = this.now();
    const fresh: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    const current = await this.client.find<Lease>(this.ref, name);
    if (!current) {
      try {
        await this.client.create(this.ref, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: fresh,
        });
        return true;
      } catch (error) {
        if (isConflict(error)) return false;
        throw error;
      }
    }
    const spec = current.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.acquireTime]);
    if (this.observed?.record !== record) this.observed = { record, at: now };
    const holder = spec.holderIdentity ?? "";
    const held = holder !== "" && holder !== identity;
    if (held && this.observed.at + durationMs > now) return false;
    const next: LeaseSpec =
      holder === identity
        ? { ...spec, renewTime: microTime(now), leaseDurationSeconds: fresh.leaseDurationSeconds }
        : { ...fresh, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      await this.client.replace(this.ref, name, { ...current, spec: next });
      this.observed = {
        record: JSON.stringify([next.holderIdentity, next.renewTime, next.acquireTime]),
        at: now,
      };
      return true;
    } catch (error) {
      if (isConflict(error) || isNotFound(error)) return false;
      throw error;
    }
  }

  private async release(): Promise<void> {
    const current = await this.client.find<Lease>(this.ref, this.options.name);
    if (!current || current.spec?.holderIdentity !== this.options.identity) return;
    await this.client.replace(this.ref, this.options.name, {
      ...current,
      spec: {
        ...current.spec,
        holderIdentity: "",
        renewTime: microTime(this.now()),
        leaseDurationSeconds: 1,
      },
    });
  }
}
