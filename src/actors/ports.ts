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

/** What narrows or orders a `files.list` beyond its corpus (DriveFileQuery in src/io/drive). */
export interface FileQuery {
  readonly q?: string;
  readonly orderBy?: string;
  /** Only id, name, type, drive, parents, creation time and trashed: listings that fetch no records. */
  readonly idsOnly?: boolean;
  /** `user` corpus: shared-drive items given to the user directly too (default true). */
  readonly sharedDriveItems?: boolean;
}

export interface FilePage extends Page<DriveFile> {
  /** Drive says it did not search everything: results may be missing. */
  readonly incompleteSearch?: boolean;
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
  listFiles(corpus: DriveCorpus, pageToken: string | null, query?: FileQuery): Promise<FilePage>;
  listChanges(pageToken: string): Promise<ChangePage>;
  /** One item as the user sees it now; an item gone or out of the user's sight fails `not_found`. */
  getFile(fileId: string): Promise<DriveFile>;
  /** Every page, followed to the end. */
  allPermissions(fileId: string): Promise<DrivePermission[]>;
  allRevisions(fileId: string): Promise<DriveRevision[]>;
  /** Comments with their replies embedded. */
  allComments(fileId: string): Promise<DriveComment[]>;
  /**
   * Many files' extras at once (Drive batch requests), each outcome what the matching
   * `all*` call would give. Present only when batching is on; the runs fall back to one
   * call per extra otherwise.
   */
  batchExtras?(requests: readonly ExtraRequest[]): Promise<ExtraOutcome[]>;
  /** A Workspace file converted to `mimeType`; failures carry their classification. */
  exportFile(fileId: string, mimeType: string, maxBytes: number): Promise<FileContent>;
  /** A binary file's bytes; more than `maxBytes` fails as `contentTooLarge`. */
  downloadFile(fileId: string, maxBytes: number): Promise<FileContent>;
}

export interface FileContent {
  readonly body: Readable;
  readonly contentType: string;
  /** From Content-Length, when Drive sent one. */
  readonly contentLength?: number | null;
}

/** The per-file lists a sync may read (`options.include`, content aside). */
export type ExtraKind = 'permissions' | 'revisions' | 'comments';

export interface ExtraRequest {
  readonly fileId: string;
  readonly extra: ExtraKind;
}

export type ExtraOutcome =
  | { readonly ok: true; readonly extras: FileExtras }
  /** `error` carries its classification, like a failed direct call's. */
  | { readonly ok: false; readonly error: unknown };

/** Where payloads too large for a Kafka record go (src/io/s3/payload-store.ts). */
export interface PayloadStorePort {
  put(payload: {
    readonly connectionId: string;
    readonly body: Buffer | Readable;
    readonly contentType: string;
    readonly signal?: AbortSignal;
  }): Promise<{
    readonly bucket: string;
    readonly key: string;
    readonly sha256: string;
    readonly sizeBytes: number;
    readonly contentType: string;
  }>;
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
