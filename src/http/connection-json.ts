import type { ConnectionView, TransitionRecord } from '../actors/inspection.js';

/**
 * What the HTTP layer shows of a connection. Built field by field from the view (an
 * allowlist, never a spread), so a field added to the checkpoint later is not published
 * until someone decides it is safe to. Remaining times are computed against the server's
 * clock at `now`; the page corrects for its own clock with the `now` of each answer.
 */
export interface ConnectionJson {
  readonly connectionId: string;
  readonly customerId: string;
  readonly state: string;
  readonly resident: boolean;
  readonly cursor: string | null;
  readonly updatedAt: string;
  readonly options: { readonly include: readonly string[]; readonly driveIds: readonly string[] | null };
  readonly channel: {
    readonly id: string;
    readonly resourceId: string;
    readonly expiration: string;
    readonly openedAt: string;
    readonly expiresInSeconds: number;
  } | null;
  readonly backoff: {
    readonly attempt: number;
    readonly until: string;
    readonly reason: string;
    readonly classification: string;
    readonly remainingSeconds: number;
  } | null;
  readonly parked: { readonly reason: string; readonly since: string } | null;
  readonly activeSync: {
    readonly syncId: string;
    readonly mode: string;
    readonly startedAt: string;
    readonly phase: string | null;
    readonly counts: Readonly<Record<string, number>>;
  } | null;
  readonly pending: { readonly mode: string } | null;
  readonly lastSync: {
    readonly syncId: string;
    readonly mode: string;
    readonly finishedAt: string;
    readonly counts: Readonly<Record<string, number>>;
  } | null;
  readonly transitions: readonly TransitionRecord[];
}

const secondsUntil = (iso: string, now: number) => Math.round((Date.parse(iso) - now) / 1000);

export function connectionJson(view: ConnectionView, now: number): ConnectionJson {
  const c = view.checkpoint;
  return {
    connectionId: view.connectionId,
    customerId: c.customerId,
    state: view.state,
    resident: view.resident,
    cursor: c.cursor,
    updatedAt: c.updatedAt,
    options: {
      include: [...c.options.include],
      driveIds: c.options.driveIds ? [...c.options.driveIds] : null,
    },
    channel: c.channel
      ? {
          id: c.channel.id,
          resourceId: c.channel.resourceId,
          expiration: c.channel.expiration,
          openedAt: c.channel.openedAt,
          expiresInSeconds: secondsUntil(c.channel.expiration, now),
        }
      : null,
    backoff: c.backoff
      ? {
          attempt: c.backoff.attempt,
          until: c.backoff.until,
          reason: c.backoff.reason,
          classification: c.backoff.classification,
          remainingSeconds: Math.max(0, secondsUntil(c.backoff.until, now)),
        }
      : null,
    parked: c.parked ? { reason: c.parked.reason, since: c.parked.since } : null,
    activeSync: c.activeSync
      ? {
          syncId: c.activeSync.syncId,
          mode: c.activeSync.mode,
          startedAt: c.activeSync.startedAt,
          phase: c.activeSync.resume?.phase ?? null,
          counts: { ...c.activeSync.counts },
        }
      : null,
    pending: c.pending ? { mode: c.pending.mode } : null,
    lastSync: c.lastSync
      ? {
          syncId: c.lastSync.syncId,
          mode: c.lastSync.mode,
          finishedAt: c.lastSync.finishedAt,
          counts: { ...c.lastSync.counts },
        }
      : null,
    transitions: view.transitions.map((t) => ({ at: t.at, from: t.from, to: t.to, event: t.event })),
  };
}
