import { workspaceBodyFor } from './exports.js';
import {
  DOCUMENT_MIME,
  DRAWING_MIME,
  FOLDER_MIME,
  PRESENTATION_MIME,
  SHORTCUT_MIME,
  SPREADSHEET_MIME,
} from './mime.js';
import type { DriveRole, FileRecord, Role, UserRecord } from './types.js';
import { DriveWorld } from './world.js';

/** Knobs of a generated corpus. Every count and density is deterministic for a given seed. */
export interface CorpusOptions {
  /** Users with a My Drive each (the first is the "demo" user). Default 3. */
  readonly users?: number;
  /**
   * Fraction of the My Drive items that go to the first user's My Drive, the rest spread
   * evenly over the others: one huge Drive among many tiny ones. Unset: every user alike.
   */
  readonly firstUserShare?: number;
  /** Items (folders included) across all My Drives and shared drives. Default 200. */
  readonly files?: number;
  /** Deepest folder nesting below a root. Default 3. */
  readonly folderDepth?: number;
  /** Fraction of items that are folders. Default 0.12. */
  readonly folderFraction?: number;
  /** Fraction of non-folder items that are Workspace files (Docs/Sheets/Slides/Drawings). Default 0.4. */
  readonly workspaceFraction?: number;
  /** Shared drives. Default 1. */
  readonly sharedDrives?: number;
  /** Members per shared drive (besides its organizer, the first user), capped by users - 1. Default 2. */
  readonly sharedDriveMembers?: number;
  /** Fraction of items placed in shared drives (when there are any). Default 0.25. */
  readonly sharedDriveFraction?: number;
  /** Probability that a My Drive item is shared with another user (shared-with-me for them). Default 0.1. */
  readonly shareDensity?: number;
  /** Probability that a My Drive item is shared by link (anyone, reader). Default 0.02. */
  readonly linkShareDensity?: number;
  /** Mean number of extra revisions per file. Default 0.5. */
  readonly revisionDensity?: number;
  /** Mean number of comments per file. Default 0.2. */
  readonly commentDensity?: number;
  /** Mean number of replies per comment. Default 0.5. */
  readonly replyDensity?: number;
  /** Largest binary file, in bytes. Default 16384. */
  readonly maxFileBytes?: number;
  /** Google Docs whose exports are padded past 10 MB (to test exportSizeLimitExceeded). Default 0. */
  readonly oversizedDocs?: number;
  /** Email domain of generated users. Default example.com. */
  readonly domain?: string;
  /** Probability that an item ends up in the trash (folders take their contents with them). Default 0.03. */
  readonly trashDensity?: number;
  /** Shortcuts per item, each in a user's My Drive, to something that user can open. Default 0.03. */
  readonly shortcutDensity?: number;
  /** Probability that a shared-drive file is shared directly with a user who is not a member. Default 0.05. */
  readonly directShareFromDrivesDensity?: number;
  /** Probability that a file has copyRequiresWriterPermission (readers cannot download it). Default 0.04. */
  readonly restrictedDownloadDensity?: number;
}

export interface GeneratedCorpus {
  readonly world: DriveWorld;
  readonly users: readonly UserRecord[];
  readonly driveIds: readonly string[];
  readonly oversizedDocIds: readonly string[];
}

const FIRST_NAMES = [
  'Ada',
  'Grace',
  'Alan',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
  'Ken',
  'Margaret',
  'Dennis',
  'Radia',
  'Leslie',
];
const LAST_NAMES = [
  'Lovelace',
  'Hopper',
  'Turing',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Hamilton',
  'Ritchie',
  'Perlman',
  'Lamport',
];
const TOPICS = [
  'Roadmap',
  'Budget',
  'Minutes',
  'Invoice',
  'Report',
  'Design',
  'Notes',
  'Plan',
  'Review',
  'Forecast',
  'Contract',
  'Survey',
];
const FOLDER_NAMES = [
  'Projects',
  'Archive',
  'Finance',
  'Clients',
  'Shared',
  'Drafts',
  'Team',
  'Research',
  'Legal',
  'Photos',
];
const WORDS = [
  'alpha',
  'beta',
  'gamma',
  'delta',
  'quarterly',
  'launch',
  'customer',
  'pipeline',
  'sync',
  'metrics',
  'hiring',
  'offsite',
];
const BINARY_TYPES: readonly { mime: string; ext: string }[] = [
  { mime: 'application/pdf', ext: 'pdf' },
  { mime: 'text/plain', ext: 'txt' },
  { mime: 'image/png', ext: 'png' },
  { mime: 'image/jpeg', ext: 'jpg' },
  { mime: 'text/csv', ext: 'csv' },
  { mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', ext: 'docx' },
  { mime: 'application/zip', ext: 'zip' },
];
const WORKSPACE_TYPES = [DOCUMENT_MIME, DOCUMENT_MIME, SPREADSHEET_MIME, PRESENTATION_MIME, DRAWING_MIME];
const SHARE_ROLES: readonly Role[] = ['reader', 'reader', 'commenter', 'writer'];
const MEMBER_ROLES: readonly DriveRole[] = [
  'writer',
  'writer',
  'reader',
  'commenter',
  'fileOrganizer',
  'organizer',
];

/** 2024-01-01T00:00:00Z: generated history lies in the past, before any live edit. */
const CORPUS_EPOCH = Date.UTC(2024, 0, 1);
const OVERSIZED_EXPORT_BYTES = 11 * 1024 * 1024;

/** Poisson-ish small counts from a mean, using the world's seeded randomness. */
function countFromMean(world: DriveWorld, mean: number): number {
  let count = Math.floor(mean);
  if (world.random.chance(mean - count)) count++;
  return count;
}

/**
 * Builds a world from a seed. Same seed and options → the same ids, names, times, bytes
 * and change log, byte for byte. The corpus is created through the world's own write
 * operations, so the change log and versions hold what live edits would have produced.
 */
export function generateCorpus(seed: number, options: CorpusOptions = {}): GeneratedCorpus {
  const world = new DriveWorld(seed);
  const userCount = Math.max(1, options.users ?? 3);
  const fileCount = Math.max(0, options.files ?? 200);
  const depth = Math.max(0, options.folderDepth ?? 3);
  const folderFraction = options.folderFraction ?? 0.12;
  const workspaceFraction = options.workspaceFraction ?? 0.4;
  const driveCount = Math.max(0, options.sharedDrives ?? 1);
  const driveMembers = Math.min(Math.max(0, options.sharedDriveMembers ?? 2), userCount - 1);
  const driveFraction = driveCount > 0 ? (options.sharedDriveFraction ?? 0.25) : 0;
  const shareDensity = options.shareDensity ?? 0.1;
  const linkShareDensity = options.linkShareDensity ?? 0.02;
  const revisionDensity = options.revisionDensity ?? 0.5;
  const commentDensity = options.commentDensity ?? 0.2;
  const replyDensity = options.replyDensity ?? 0.5;
  const maxBytes = Math.max(1, options.maxFileBytes ?? 16_384);
  const domain = options.domain ?? 'example.com';
  const support = { supportsAllDrives: true };

  return world.withFixedClock(CORPUS_EPOCH, () => {
    const users: UserRecord[] = [];
    for (let i = 0; i < userCount; i++) {
      const first = FIRST_NAMES[i % FIRST_NAMES.length] as string;
      const last = LAST_NAMES[Math.floor(i / FIRST_NAMES.length + i) % LAST_NAMES.length] as string;
      const suffix = i < FIRST_NAMES.length ? '' : String(i);
      users.push(world.createUser(`${first.toLowerCase()}${suffix}@${domain}`, `${first} ${last}`));
    }
    const organizer = users[0] as UserRecord;
    const firstUserShare = options.firstUserShare;
    const others = users.length > 1 ? users.slice(1) : users;
    // Unset, the draw is the one corpora of a seed always had, so they keep their items.
    const ownerOf = (): UserRecord =>
      firstUserShare === undefined
        ? world.random.pick(users)
        : world.random.chance(firstUserShare)
          ? organizer
          : world.random.pick(others);
    const driveIds: string[] = [];
    for (let d = 0; d < driveCount; d++) {
      const drive = world.createSharedDrive(organizer, `${world.random.pick(TOPICS)} Team ${d + 1}`);
      driveIds.push(drive.id);
      const others = users.slice(1);
      for (let m = 0; m < driveMembers; m++) {
        const member = others[(d + m) % others.length];
        if (member) world.setDriveMember(drive.id, member.id, world.random.pick(MEMBER_ROLES));
      }
    }

    // Folders known per root, with their depth, so items can nest up to `depth`.
    const folders = new Map<string, { id: string; depth: number }[]>();
    const rootFor = (user: UserRecord) => user.rootFolderId;
    for (const user of users) folders.set(rootFor(user), [{ id: user.rootFolderId, depth: 0 }]);
    for (const driveId of driveIds) folders.set(driveId, [{ id: driveId, depth: 0 }]);

    const oversizedDocIds: string[] = [];
    const created: { file: FileRecord; creator: UserRecord }[] = [];
    for (let n = 0; n < fileCount; n++) {
      world.advanceFixedClock(world.random.int(1_000, 3_600_000));
      const inDrive = driveIds.length > 0 && world.random.chance(driveFraction);
      const owner = inDrive ? null : ownerOf();
      const rootId = owner === null ? world.random.pick(driveIds) : owner.rootFolderId;
      const creator = owner ?? organizer;
      const candidates = folders.get(rootId) ?? [];
      const parent = world.random.pick(candidates);
      const isFolder = parent.depth < depth && world.random.chance(folderFraction);
      const topic = world.random.pick(TOPICS);
      const word = world.random.pick(WORDS);
      let file: FileRecord;
      if (isFolder) {
        file = world.createFile(
          creator,
          {
            name: `${world.random.pick(FOLDER_NAMES)} ${word} ${n}`,
            mimeType: FOLDER_MIME,
            parentId: parent.id,
          },
          support,
        );
        candidates.push({ id: file.id, depth: parent.depth + 1 });
      } else if (world.random.chance(workspaceFraction)) {
        const mimeType = world.random.pick(WORKSPACE_TYPES);
        const name = `${topic} ${word} ${n}`;
        const paragraphs = Array.from(
          { length: world.random.int(1, 6) },
          () =>
            `${world.random.pick(WORDS)} ${world.random.pick(WORDS)} ${world.random.pick(TOPICS).toLowerCase()}`,
        );
        file = world.createFile(
          creator,
          {
            name,
            mimeType,
            parentId: parent.id,
            workspaceText: workspaceBodyFor(mimeType, name, paragraphs),
          },
          support,
        );
        if (mimeType === DOCUMENT_MIME && oversizedDocIds.length < (options.oversizedDocs ?? 0)) {
          world.setExportPadding(file.id, OVERSIZED_EXPORT_BYTES);
          oversizedDocIds.push(file.id);
        }
      } else {
        const type = world.random.pick(BINARY_TYPES);
        const name = `${topic}-${word}-${n}.${type.ext}`;
        file = world.createFile(
          creator,
          {
            name,
            mimeType: type.mime,
            parentId: parent.id,
            contentSource: {
              kind: 'generated',
              seedText: `${name} r1\n`,
              size: world.random.int(0, maxBytes),
            },
          },
          support,
        );
      }
      created.push({ file, creator });
    }

    for (const { file, creator } of created) {
      if (file.mimeType === FOLDER_MIME) {
        if (file.driveId === undefined)
          shareSometimes(world, file, creator, users, shareDensity, linkShareDensity);
        continue;
      }
      const extra = countFromMean(world, revisionDensity);
      for (let r = 0; r < extra; r++) {
        world.advanceFixedClock(world.random.int(1_000, 600_000));
        const head = world.headRevision(file);
        if (head?.kind === 'binary') {
          world.updateFile(creator, file, { content: Buffer.alloc(0) }, support);
          // Replace the empty upload with generated bytes of a fresh size: cheap to hold.
          const last = file.revisions.pop();
          world.pushBinaryRevision(file, creator, {
            content: {
              kind: 'generated',
              seedText: `${file.name} r${file.revisions.length + 1}\n`,
              size: world.random.int(0, maxBytes),
            },
            time: last?.modifiedTime ?? file.modifiedTime,
            originalFilename: file.name,
            keepForever: world.random.chance(0.1),
            ...(last ? { id: last.id } : {}),
          });
        } else if (head?.kind === 'workspace') {
          const text = `${head.text}${world.random.pick(WORDS)} ${world.random.pick(WORDS)}\n`;
          world.updateFile(creator, file, { content: Buffer.from(text, 'utf8') }, support);
        }
      }
      if (file.driveId === undefined)
        shareSometimes(world, file, creator, users, shareDensity, linkShareDensity);
      const comments = countFromMean(world, commentDensity);
      for (let c = 0; c < comments; c++) {
        world.advanceFixedClock(world.random.int(1_000, 600_000));
        const comment = world.createComment(creator, file, {
          content: `${world.random.pick(TOPICS)}: ${world.random.pick(WORDS)}?`,
        });
        const replies = countFromMean(world, replyDensity);
        for (let r = 0; r < replies; r++) {
          world.advanceFixedClock(world.random.int(1_000, 600_000));
          world.createReply(creator, file, comment, { content: `Re: ${world.random.pick(WORDS)}` });
        }
      }
    }
    addRealism(world, created, users, {
      trash: options.trashDensity ?? 0.03,
      shortcuts: options.shortcutDensity ?? 0.03,
      directFromDrives: options.directShareFromDrivesDensity ?? 0.05,
      restricted: options.restrictedDownloadDensity ?? 0.04,
    });
    return { world, users, driveIds, oversizedDocIds };
  });
}

/**
 * What real Drives hold and a kind fixture forgets: files readers cannot download, files of
 * a shared drive shared with someone outside it, shortcuts (to targets in the user's own
 * My Drive, in shared drives, in other people's drives) and trashed items. Done after every
 * other draw so corpora of a seed keep the items they had before these existed.
 */
function addRealism(
  world: DriveWorld,
  created: readonly { file: FileRecord; creator: UserRecord }[],
  users: readonly UserRecord[],
  density: { trash: number; shortcuts: number; directFromDrives: number; restricted: number },
): void {
  const support = { supportsAllDrives: true };
  for (const { file, creator } of created) {
    if (file.mimeType === FOLDER_MIME) continue;
    if (world.random.chance(density.restricted)) {
      world.updateFile(creator, file, { copyRequiresWriterPermission: true }, support);
    }
    if (file.driveId !== undefined && world.random.chance(density.directFromDrives)) {
      const members = world.drives.get(file.driveId)?.members;
      const outsiders = users.filter((u) => !members?.has(u.id));
      if (outsiders.length > 0) {
        world.createPermission(creator, file, {
          type: 'user',
          role: world.random.pick(SHARE_ROLES),
          emailAddress: world.random.pick(outsiders).email,
        });
      }
    }
  }
  const shortcuts = Math.round(created.length * density.shortcuts);
  for (let s = 0; s < shortcuts && created.length > 0; s++) {
    world.advanceFixedClock(world.random.int(1_000, 600_000));
    const user = world.random.pick(users);
    const target = world.random.pick(created).file;
    if (!world.files.has(target.id) || !world.accessRole(user, target)) continue;
    world.createFile(
      user,
      {
        name: `${target.name} (shortcut)`,
        mimeType: SHORTCUT_MIME,
        parentId: user.rootFolderId,
        shortcutTargetId: target.id,
      },
      support,
    );
  }
  for (const { file, creator } of created) {
    if (!world.random.chance(density.trash) || world.isTrashed(file)) continue;
    world.advanceFixedClock(world.random.int(1_000, 600_000));
    world.updateFile(creator, file, { trashed: true }, support);
  }
}

function shareSometimes(
  world: DriveWorld,
  file: FileRecord,
  owner: UserRecord,
  users: readonly UserRecord[],
  density: number,
  linkDensity: number,
): void {
  if (users.length > 1 && world.random.chance(density)) {
    const others = users.filter((u) => u.id !== owner.id);
    const grantee = world.random.pick(others);
    world.createPermission(owner, file, {
      type: 'user',
      role: world.random.pick(SHARE_ROLES),
      emailAddress: grantee.email,
    });
  }
  if (world.random.chance(linkDensity)) {
    world.createPermission(owner, file, { type: 'anyone', role: 'reader', allowFileDiscovery: false });
  }
}
