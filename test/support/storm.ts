import type { drive_v3 } from '@googleapis/drive';
import { FOLDER_MIME } from './drive-truth.js';

/** mulberry32: a small seeded generator, so a failing seed replays the same storm. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Item {
  readonly id: string;
  readonly folder: boolean;
  readonly driveId: string | null;
}

export type Api = { drive: drive_v3.Drive; auth: { headers: Record<string, string>; retry: false } };

/** One user's edits, picked by a seeded generator from what the user sees now. */
export class Storm {
  private readonly random: () => number;
  readonly log: string[] = [];

  constructor(
    seed: number,
    private readonly ada: Api,
    private readonly bea: Api,
    private readonly adaEmail: string,
    private readonly beaEmail: string,
    private readonly driveIds: readonly string[],
  ) {
    this.random = seededRandom(seed);
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  private async items(trashed: boolean): Promise<Item[]> {
    const { drive, auth } = this.ada;
    const found: Item[] = [];
    let pageToken: string | undefined;
    do {
      const page = await drive.files.list(
        {
          corpora: 'allDrives',
          includeItemsFromAllDrives: true,
          supportsAllDrives: true,
          q: `trashed = ${trashed}`,
          pageSize: 1000,
          fields: 'nextPageToken,files(id,mimeType,driveId)',
          ...(pageToken ? { pageToken } : {}),
        },
        auth,
      );
      for (const f of page.data.files ?? []) {
        found.push({ id: f.id as string, folder: f.mimeType === FOLDER_MIME, driveId: f.driveId ?? null });
      }
      pageToken = page.data.nextPageToken ?? undefined;
    } while (pageToken);
    return found;
  }

  /** One edit; an edit Drive refuses (a move it does not allow, a vanished item) is skipped. */
  async editOnce(): Promise<void> {
    const { drive, auth } = this.ada;
    const live = await this.items(false);
    const inMyDrive = live.filter((i) => i.driveId === null);
    const folders = inMyDrive.filter((i) => i.folder);
    const kinds = [
      'create-file',
      'create-folder',
      'rename',
      'move',
      'move-into-drive',
      'move-out-of-drive',
      'trash',
      'restore',
      'delete',
      'share',
      'role',
      'unshare',
      'link',
      'comment',
      'reply',
      'share-in',
      'revoke-in',
    ] as const;
    const kind = this.pick(kinds) as (typeof kinds)[number];
    const target = this.pick(live);
    const own = this.pick(inMyDrive);
    const folder = this.pick(folders);
    const sharedDrive = this.pick(this.driveIds);
    const n = Math.floor(this.random() * 1e6);
    this.log.push(kind);
    try {
      switch (kind) {
        case 'create-file':
        case 'create-folder':
          await drive.files.create(
            {
              requestBody: {
                name: `${kind}-${n}`,
                mimeType: kind === 'create-folder' ? FOLDER_MIME : 'text/plain',
                ...(folder && this.random() < 0.6 ? { parents: [folder.id] } : {}),
              },
              fields: 'id',
            },
            auth,
          );
          return;
        case 'rename':
          if (target)
            await drive.files.update(
              {
                fileId: target.id,
                supportsAllDrives: true,
                requestBody: { name: `renamed-${n}` },
                fields: 'id',
              },
              auth,
            );
          return;
        case 'move':
          if (own && folder && own.id !== folder.id) await this.moveTo(own.id, folder.id);
          return;
        case 'move-into-drive':
          if (own && sharedDrive) await this.moveTo(own.id, sharedDrive);
          return;
        case 'move-out-of-drive': {
          const inDrive = this.pick(live.filter((i) => i.driveId !== null));
          const home = folder?.id ?? (await drive.files.get({ fileId: 'root', fields: 'id' }, auth)).data.id;
          if (inDrive && home) await this.moveTo(inDrive.id, home);
          return;
        }
        case 'trash':
          if (target)
            await drive.files.update(
              { fileId: target.id, supportsAllDrives: true, requestBody: { trashed: true }, fields: 'id' },
              auth,
            );
          return;
        case 'restore': {
          const trashed = this.pick(await this.items(true));
          if (trashed)
            await drive.files.update(
              { fileId: trashed.id, supportsAllDrives: true, requestBody: { trashed: false }, fields: 'id' },
              auth,
            );
          return;
        }
        case 'delete':
          if (own) await drive.files.delete({ fileId: own.id }, auth);
          return;
        case 'share':
          if (target)
            await drive.permissions.create(
              {
                fileId: target.id,
                supportsAllDrives: true,
                requestBody: { type: 'user', role: 'reader', emailAddress: this.beaEmail },
                fields: 'id',
              },
              auth,
            );
          return;
        case 'role':
        case 'unshare':
        case 'link': {
          if (!target) return;
          if (kind === 'link') {
            await drive.permissions.create(
              { fileId: target.id, supportsAllDrives: true, requestBody: { type: 'anyone', role: 'reader' } },
              auth,
            );
            return;
          }
          const permissions = await drive.permissions.list(
            { fileId: target.id, supportsAllDrives: true, fields: 'permissions(id,role)' },
            auth,
          );
          const permission = this.pick(
            (permissions.data.permissions ?? []).filter((p) => p.role !== 'owner' && p.role !== 'organizer'),
          );
          if (!permission?.id) return;
          if (kind === 'role')
            await drive.permissions.update(
              {
                fileId: target.id,
                permissionId: permission.id,
                supportsAllDrives: true,
                requestBody: { role: permission.role === 'reader' ? 'writer' : 'reader' },
              },
              auth,
            );
          else
            await drive.permissions.delete(
              { fileId: target.id, permissionId: permission.id, supportsAllDrives: true },
              auth,
            );
          return;
        }
        case 'comment':
          if (target && !target.folder)
            await drive.comments.create(
              { fileId: target.id, requestBody: { content: `comment ${n}` }, fields: 'id' },
              auth,
            );
          return;
        case 'reply': {
          if (!target || target.folder) return;
          const comments = await drive.comments.list({ fileId: target.id, fields: 'comments(id)' }, auth);
          const comment = this.pick(comments.data.comments ?? []);
          if (comment?.id)
            await drive.replies.create(
              {
                fileId: target.id,
                commentId: comment.id,
                requestBody: { content: `reply ${n}` },
                fields: 'id',
              },
              auth,
            );
          return;
        }
        case 'share-in': {
          // Another user shares one of hers with Ada.
          const made = await this.bea.drive.files.create(
            { requestBody: { name: `from bea ${n}`, mimeType: 'text/plain' }, fields: 'id' },
            this.bea.auth,
          );
          await this.bea.drive.permissions.create(
            {
              fileId: made.data.id as string,
              requestBody: { type: 'user', role: 'reader', emailAddress: this.adaEmail },
            },
            this.bea.auth,
          );
          return;
        }
        case 'revoke-in': {
          const hers = await this.bea.drive.files.list(
            { q: `'me' in owners and trashed = false`, pageSize: 100, fields: 'files(id)' },
            this.bea.auth,
          );
          const file = this.pick(hers.data.files ?? []);
          if (!file?.id) return;
          const permissions = await this.bea.drive.permissions.list(
            { fileId: file.id, fields: 'permissions(id,emailAddress)' },
            this.bea.auth,
          );
          const toAda = (permissions.data.permissions ?? []).find((p) => p.emailAddress === this.adaEmail);
          if (toAda?.id)
            await this.bea.drive.permissions.delete(
              { fileId: file.id, permissionId: toAda.id },
              this.bea.auth,
            );
          return;
        }
      }
    } catch (error) {
      const status =
        (error as { status?: number; code?: number }).status ?? (error as { code?: number }).code;
      // Drive refuses some edits (moves it does not allow, items gone meanwhile): so do users.
      if (status === 400 || status === 403 || status === 404) {
        this.log.push(`${kind} refused ${status}`);
        return;
      }
      throw error;
    }
  }

  private async moveTo(fileId: string, parentId: string): Promise<void> {
    const { drive, auth } = this.ada;
    const parents =
      (await drive.files.get({ fileId, supportsAllDrives: true, fields: 'parents' }, auth)).data.parents ??
      [];
    await drive.files.update(
      {
        fileId,
        addParents: parentId,
        removeParents: parents.join(','),
        supportsAllDrives: true,
        fields: 'id',
      },
      auth,
    );
  }
}
