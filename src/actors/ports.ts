import type { Readable } from 'node:stream';
import type {
  DriveChange,
  DriveComment,
  DriveFile,
  DrivePermission,
  DriveRevision,
  SharedDrive,
} from '../contract/drive-resources.js';
import type { OutboundRecord } from '../contract/records.js';

/**
 * What the sync runs need from the outside, as small interfaces (STYLE.md: orchestration is
 * typed against its dependencies; adapters in src/io satisfy them). Drive answers arrive
 * already validated by the adapter's zod schemas; failures arrive as errors carrying their
 * classification (see `failureOf`).
 */

export type DriveCorpus = { readonly kind: 'user' } | { readonly kind: 'drive'; readonly driveId: string };

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string | null;
}

export interface ChangePage {
  readonly changes: readonly DriveChange[];
  readonly nextPageToken: string | null;
  readonly newStartPageToken: string | null;
}

/** One connection's view of Drive (its token is bound inside). */
export interface DriveReader {
  getStartPageToken(): Promise<string>;
  listDrives(pageToken: string | null): Promise<Page<SharedDrive>>;
  listFiles(corpus: DriveCorpus, pageToken: string | null): Promise<Page<DriveFile>>;
  listChanges(pageToken: string): Promise<ChangePage>;
  /** Every page, followed to the end. */
  allPermissions(fileId: string): Promise<DrivePermission[]>;
  allRevisions(fileId: string): Promise<DriveRevision[]>;
  /** Comments with their replies embedded. */
  allComments(fileId: string): Promise<DriveComment[]>;
}

export interface FileContent {
  readonly body: Readable;
  readonly contentType: string;
}

export interface FileExtras {
  readonly permissions?: readonly DrivePermission[];
  readonly revisions?: readonly DriveRevision[];
  readonly comments?: readonly DriveComment[];
}

/** Publishes records and resolves once Kafka acknowledged every one of them. */
export interface RecordPublisher {
  publish(records: readonly OutboundRecord[], correlationId: string | null): Promise<void>;
}
