import { CallControl } from '../control.js';
import { IdentityRegistry } from '../identity.js';
import { REALISM_ON, type RealismSettings } from '../realism.js';
import type { FileRecord } from '../store/types.js';
import { DriveWorld } from '../store/world.js';

/** Cached full result of a files.list query, paged by offset. */
/**
 * How a batch request's parts are answered: one after another (`serial`), or all at once
 * (`parallel`). Google documents neither; a client has to do well against both.
 */
export type BatchMode = 'serial' | 'parallel';

export interface CachedList {
  readonly generation: number;
  readonly ids: readonly string[];
}

/**
 * The one shared state object every plugin works on. `world` is replaced wholesale by a
 * reset or a corpus generation; plugins always read it through the runtime.
 */
export class EmulatorRuntime {
  world: DriveWorld;
  readonly identity: IdentityRegistry;
  readonly control: CallControl;
  baseUrl = 'http://127.0.0.1';
  readonly listCache = new Map<string, CachedList>();
  /** Google's looseness (short pages, coalesced changes, jittery push): on unless turned off. */
  realism: RealismSettings = REALISM_ON;
  /** Serial until Google's own behaviour is known; kept across `/reset`, like realism. */
  batchMode: BatchMode = 'serial';
  private readonly worldListeners = new Set<(world: DriveWorld) => void>();

  constructor(
    public seed: number,
    tokenLifetimeSeconds: number,
  ) {
    this.world = new DriveWorld(seed);
    this.identity = new IdentityRegistry(tokenLifetimeSeconds);
    this.control = new CallControl(seed);
  }

  /** Subscribers (push notifications) re-attach to each new world. */
  onWorld(listener: (world: DriveWorld) => void): void {
    this.worldListeners.add(listener);
    listener(this.world);
  }

  replaceWorld(world: DriveWorld): void {
    this.world = world;
    this.listCache.clear();
    for (const listener of this.worldListeners) listener(world);
  }

  rememberList(key: string, files: readonly FileRecord[]): CachedList {
    if (this.listCache.size >= 256) {
      const oldest = this.listCache.keys().next().value;
      if (oldest !== undefined) this.listCache.delete(oldest);
    }
    const entry = { generation: this.world.generation, ids: files.map((f) => f.id) };
    this.listCache.set(key, entry);
    return entry;
  }
}
