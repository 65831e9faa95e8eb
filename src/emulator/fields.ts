import { driveErrors } from './errors.js';

/**
 * Partial responses (`fields`), as Google's front end applies them to Drive's resources.
 *
 * Syntax (Google's "Return specific fields" guide, A): comma-separated selections; a
 * selection is a path of names joined by `/`, optionally followed by a parenthesised
 * sub-selection (`files(id,owners(emailAddress))`); `*` selects every field. Whitespace
 * around names and punctuation is ignored. A name that the resource does not have fails
 * the whole call with 400 `invalidParameter` "Invalid field selection <name>" (B).
 *
 * Documented choices where Google is silent (C):
 * - A nested unknown name is reported by its own segment (`files(id,bogus)` → "bogus").
 * - A syntax error (unbalanced parentheses, empty selection, stray punctuation) is reported
 *   as "Invalid field selection <the whole spec>".
 * - Selecting a resource-valued field without a sub-selection (`files`, `changes`, `file`)
 *   returns the whole embedded resource, like `files(*)`.
 * - Map-valued fields (`properties`, `appProperties`, `exportLinks`, …) accept any key as a
 *   sub-selection (`properties/owner`).
 * - Absent (undefined or null) values are left out; an embedded object or array element
 *   that keeps none of its fields is still returned as `{}`.
 */

/** A parsed `fields` value: each key a field name (`*` for all), each value a sub-mask or `true` for the whole field. */
export type FieldMask = ReadonlyMap<string, FieldMask | true>;

export type ResourceKind =
  | 'about'
  | 'file'
  | 'fileList'
  | 'permission'
  | 'permissionList'
  | 'revision'
  | 'revisionList'
  | 'comment'
  | 'commentList'
  | 'reply'
  | 'replyList'
  | 'drive'
  | 'driveList'
  | 'change'
  | 'changeList'
  | 'startPageToken'
  | 'channel'
  | 'user';

/**
 * What a field holds: a plain value (`scalar`, including arrays of plain values), a map with
 * free keys (`map`), an embedded Drive resource, or an inline object with its own fields.
 */
export type FieldSpec = 'scalar' | 'map' | ResourceKind | ObjectSpec;
export interface ObjectSpec {
  readonly [name: string]: FieldSpec;
}

function scalars(names: string): Record<string, 'scalar'> {
  return Object.fromEntries(names.split(' ').map((name) => [name, 'scalar' as const]));
}

/**
 * Every field of every resource the emulator serves, generated from googleapis's
 * `drive_v3.Schema$*` declarations (node_modules/@googleapis/drive/build/v3.d.ts),
 * so the names are Google's. `Schema$TeamDrive` (the deprecated `change.teamDrive`) is inline.
 */
export const resourceSchemas: Readonly<Record<ResourceKind, ObjectSpec>> = {
  about: {
    ...scalars('appInstalled canCreateDrives canCreateTeamDrives folderColorPalette kind maxUploadSize'),
    driveThemes: {
      ...scalars('backgroundImageLink colorRgb id'),
    },
    exportFormats: 'map',
    importFormats: 'map',
    maxImportSizes: 'map',
    storageQuota: {
      ...scalars('limit usage usageInDrive usageInDriveTrash'),
    },
    teamDriveThemes: {
      ...scalars('backgroundImageLink colorRgb id'),
    },
    user: 'user',
  },
  file: {
    ...scalars(
      'copyRequiresWriterPermission createdTime description driveId explicitlyTrashed fileExtension folderColorRgb fullFileExtension hasAugmentedPermissions hasThumbnail headRevisionId iconLink id inheritedPermissionsDisabled isAppAuthorized kind md5Checksum mimeType modifiedByMe modifiedByMeTime modifiedTime name originalFilename ownedByMe parents permissionIds quotaBytesUsed resourceKey sha1Checksum sha256Checksum shared sharedWithMeTime size spaces starred teamDriveId thumbnailLink thumbnailVersion trashed trashedTime version viewedByMe viewedByMeTime viewersCanCopyContent webContentLink webViewLink writersCanShare',
    ),
    appProperties: 'map',
    capabilities: {
      ...scalars(
        'canAcceptOwnership canAccessViaGenAi canAddChildren canAddFolderFromAnotherDrive canAddMyDriveParent canChangeCopyRequiresWriterPermission canChangeItemDownloadRestriction canChangeSecurityUpdateEnabled canChangeViewersCanCopyContent canComment canCopy canDelete canDeleteChildren canDisableInheritedPermissions canDownload canEdit canEnableInheritedPermissions canListChildren canModifyContent canModifyContentRestriction canModifyEditorContentRestriction canModifyLabels canModifyOwnerContentRestriction canMoveChildrenOutOfDrive canMoveChildrenOutOfTeamDrive canMoveChildrenWithinDrive canMoveChildrenWithinTeamDrive canMoveItemIntoTeamDrive canMoveItemOutOfDrive canMoveItemOutOfTeamDrive canMoveItemWithinDrive canMoveItemWithinTeamDrive canMoveTeamDriveItem canReadDrive canReadLabels canReadRevisions canReadTeamDrive canRemoveChildren canRemoveContentRestriction canRemoveMyDriveParent canRename canShare canStartApproval canTrash canTrashChildren canUntrash',
      ),
    },
    clientEncryptionDetails: {
      ...scalars('encryptionState'),
      decryptionMetadata: {
        ...scalars('aes256GcmChunkSize encryptionResourceKeyHash jwt kaclsId kaclsName keyFormat wrappedKey'),
      },
    },
    contentHints: {
      ...scalars('indexableText'),
      thumbnail: {
        ...scalars('image mimeType'),
      },
    },
    contentRestrictions: {
      ...scalars('ownerRestricted readOnly reason restrictionTime systemRestricted type'),
      restrictingUser: 'user',
    },
    downloadRestrictions: {
      effectiveDownloadRestrictionWithContext: {
        ...scalars('restrictedForReaders restrictedForWriters'),
      },
      itemDownloadRestriction: {
        ...scalars('restrictedForReaders restrictedForWriters'),
      },
    },
    exportLinks: 'map',
    imageMediaMetadata: {
      ...scalars(
        'aperture cameraMake cameraModel colorSpace exposureBias exposureMode exposureTime flashUsed focalLength height isoSpeed lens maxApertureValue meteringMode rotation sensor subjectDistance time whiteBalance width',
      ),
      location: {
        ...scalars('altitude latitude longitude'),
      },
    },
    labelInfo: {
      labels: {
        ...scalars('id kind revisionId'),
        fields: 'map',
      },
    },
    lastModifyingUser: 'user',
    linkShareMetadata: {
      ...scalars('securityUpdateEligible securityUpdateEnabled'),
    },
    owners: 'user',
    permissions: 'permission',
    properties: 'map',
    sharingUser: 'user',
    shortcutDetails: {
      ...scalars('targetId targetMimeType targetResourceKey'),
    },
    trashingUser: 'user',
    videoMediaMetadata: {
      ...scalars('durationMillis height width'),
    },
  },
  fileList: {
    ...scalars('incompleteSearch kind nextPageToken'),
    files: 'file',
  },
  permission: {
    ...scalars(
      'allowFileDiscovery deleted displayName domain emailAddress expirationTime id inheritedPermissionsDisabled kind pendingOwner photoLink role type view',
    ),
    permissionDetails: {
      ...scalars('inherited inheritedFrom permissionType role'),
    },
    teamDrivePermissionDetails: {
      ...scalars('inherited inheritedFrom role teamDrivePermissionType'),
    },
  },
  permissionList: {
    ...scalars('kind nextPageToken'),
    permissions: 'permission',
  },
  revision: {
    ...scalars(
      'id keepForever kind md5Checksum mimeType modifiedTime originalFilename publishAuto published publishedLink publishedOutsideDomain size',
    ),
    exportLinks: 'map',
    lastModifyingUser: 'user',
  },
  revisionList: {
    ...scalars('kind nextPageToken'),
    revisions: 'revision',
  },
  comment: {
    ...scalars(
      'anchor assigneeEmailAddress content createdTime deleted htmlContent id kind mentionedEmailAddresses modifiedTime resolved',
    ),
    author: 'user',
    quotedFileContent: {
      ...scalars('mimeType value'),
    },
    replies: 'reply',
  },
  commentList: {
    ...scalars('kind nextPageToken'),
    comments: 'comment',
  },
  reply: {
    ...scalars(
      'action assigneeEmailAddress content createdTime deleted htmlContent id kind mentionedEmailAddresses modifiedTime',
    ),
    author: 'user',
  },
  replyList: {
    ...scalars('kind nextPageToken'),
    replies: 'reply',
  },
  drive: {
    ...scalars('backgroundImageLink colorRgb createdTime hidden id kind name orgUnitId themeId'),
    backgroundImageFile: {
      ...scalars('id width xCoordinate yCoordinate'),
    },
    capabilities: {
      ...scalars(
        'canAddChildren canChangeCopyRequiresWriterPermissionRestriction canChangeDomainUsersOnlyRestriction canChangeDownloadRestriction canChangeDriveBackground canChangeDriveMembersOnlyRestriction canChangeSharingFoldersRequiresOrganizerPermissionRestriction canComment canCopy canDeleteChildren canDeleteDrive canDownload canEdit canListChildren canManageMembers canReadRevisions canRename canRenameDrive canResetDriveRestrictions canShare canTrashChildren',
      ),
    },
    restrictions: {
      ...scalars(
        'adminManagedRestrictions copyRequiresWriterPermission domainUsersOnly driveMembersOnly sharingFoldersRequiresOrganizerPermission',
      ),
      downloadRestriction: {
        ...scalars('restrictedForReaders restrictedForWriters'),
      },
    },
  },
  driveList: {
    ...scalars('kind nextPageToken'),
    drives: 'drive',
  },
  change: {
    ...scalars('changeType driveId fileId kind removed teamDriveId time type'),
    drive: 'drive',
    file: 'file',
    teamDrive: {
      ...scalars('backgroundImageLink colorRgb createdTime id kind name orgUnitId themeId'),
      backgroundImageFile: {
        ...scalars('id width xCoordinate yCoordinate'),
      },
      capabilities: {
        ...scalars(
          'canAddChildren canChangeCopyRequiresWriterPermissionRestriction canChangeDomainUsersOnlyRestriction canChangeDownloadRestriction canChangeSharingFoldersRequiresOrganizerPermissionRestriction canChangeTeamDriveBackground canChangeTeamMembersOnlyRestriction canComment canCopy canDeleteChildren canDeleteTeamDrive canDownload canEdit canListChildren canManageMembers canReadRevisions canRemoveChildren canRename canRenameTeamDrive canResetTeamDriveRestrictions canShare canTrashChildren',
        ),
      },
      restrictions: {
        ...scalars(
          'adminManagedRestrictions copyRequiresWriterPermission domainUsersOnly sharingFoldersRequiresOrganizerPermission teamMembersOnly',
        ),
        downloadRestriction: {
          ...scalars('restrictedForReaders restrictedForWriters'),
        },
      },
    },
  },
  changeList: {
    ...scalars('kind newStartPageToken nextPageToken'),
    changes: 'change',
  },
  startPageToken: {
    ...scalars('kind startPageToken'),
  },
  channel: {
    ...scalars('address expiration id kind payload resourceId resourceUri token type'),
    params: 'map',
  },
  user: {
    ...scalars('displayName emailAddress kind me permissionId photoLink'),
  },
};

const RESOURCE_KINDS = new Set<string>(Object.keys(resourceSchemas));

function isResourceKind(spec: FieldSpec): spec is ResourceKind {
  return typeof spec === 'string' && RESOURCE_KINDS.has(spec);
}

/** Builds one value per resource kind. */
function perKind<V>(build: (kind: ResourceKind) => V): Record<ResourceKind, V> {
  const out = {} as Record<ResourceKind, V>;
  for (const kind of Object.keys(resourceSchemas) as ResourceKind[]) out[kind] = build(kind);
  return out;
}

/** The field names of each resource, one level deep: inline objects and maps read as `scalar`. */
export const knownFields: Record<ResourceKind, ReadonlyMap<string, ResourceKind | 'scalar'>> = perKind(
  (kind) =>
    new Map(
      Object.entries(resourceSchemas[kind]).map(([name, spec]): [string, ResourceKind | 'scalar'] => [
        name,
        isResourceKind(spec) ? spec : 'scalar',
      ]),
    ),
);

// ------------------------------------------------------------------ parsing

type MutableMask = Map<string, MutableMask | true>;

/** Adds `path` (with `sub`, or the whole field when `sub` is true) to `mask`, merging with what is there. */
function addSelection(mask: MutableMask, path: readonly string[], sub: MutableMask | true): void {
  let level = mask;
  for (let i = 0; i < path.length; i++) {
    const name = path[i] as string;
    const existing = level.get(name);
    const last = i === path.length - 1;
    if (existing === true) return; // the whole field is already selected
    if (last) {
      if (sub === true || existing === undefined) level.set(name, sub);
      else for (const [key, value] of sub) addSelection(existing, [key], value);
      return;
    }
    if (existing === undefined) {
      const next: MutableMask = new Map();
      level.set(name, next);
      level = next;
    } else {
      level = existing;
    }
  }
}

class FieldsParser {
  private position = 0;

  constructor(private readonly spec: string) {}

  parse(): MutableMask {
    const mask = this.selections();
    this.skipSpace();
    if (this.position < this.spec.length) throw this.syntaxError();
    return mask;
  }

  private selections(): MutableMask {
    const mask: MutableMask = new Map();
    for (;;) {
      const path = this.path();
      this.skipSpace();
      let sub: MutableMask | true = true;
      if (this.peek() === '(') {
        this.position++;
        sub = this.selections();
        this.skipSpace();
        if (this.peek() !== ')') throw this.syntaxError();
        this.position++;
        this.skipSpace();
      }
      addSelection(mask, path, sub);
      if (this.peek() !== ',') return mask;
      this.position++;
    }
  }

  private path(): string[] {
    const names = [this.name()];
    for (;;) {
      this.skipSpace();
      if (this.peek() !== '/') return names;
      this.position++;
      names.push(this.name());
    }
  }

  private name(): string {
    this.skipSpace();
    const match = /^[^\s,()/]+/.exec(this.spec.slice(this.position));
    if (!match) throw this.syntaxError();
    this.position += match[0].length;
    return match[0];
  }

  private peek(): string | undefined {
    return this.spec[this.position];
  }

  private skipSpace(): void {
    while (this.position < this.spec.length && /\s/.test(this.spec[this.position] as string)) this.position++;
  }

  private syntaxError() {
    return driveErrors.invalidFieldSelection(this.spec.trim());
  }
}

/** Parses a `fields` value. Throws 400 `invalidParameter` on a syntax error. */
export function parseFields(spec: string): FieldMask {
  return new FieldsParser(spec).parse();
}

// ------------------------------------------------------------------ validation

function specOf(kindOrObject: ResourceKind | ObjectSpec): ObjectSpec {
  return typeof kindOrObject === 'string' ? resourceSchemas[kindOrObject] : kindOrObject;
}

function validateAgainst(mask: FieldMask, schema: ObjectSpec): void {
  for (const [name, sub] of mask) {
    if (name === '*') {
      if (sub !== true) throw driveErrors.invalidFieldSelection([...sub.keys()][0] ?? name);
      continue;
    }
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (spec === undefined) throw driveErrors.invalidFieldSelection(name);
    if (sub === true) continue;
    if (spec === 'scalar') throw driveErrors.invalidFieldSelection([...sub.keys()][0] ?? name);
    if (spec === 'map') {
      // Any key may be picked out of a map, but map values are plain strings or lists.
      for (const [key, value] of sub) if (value !== true) throw driveErrors.invalidFieldSelection(key);
      continue;
    }
    validateAgainst(sub, specOf(spec));
  }
}

/** Throws 400 "Invalid field selection <name>" for the first name `kind` does not have, at any depth. */
export function validateFields(mask: FieldMask, kind: ResourceKind): void {
  validateAgainst(mask, resourceSchemas[kind]);
}

// ------------------------------------------------------------------ defaults and projection

/**
 * What Drive returns when `fields` is absent (DRIVE_API §1.4). Lists carry their paging
 * fields and default items. For a change Drive also sends the deprecated `type` alias and,
 * for shared-drive items, `teamDriveId`/`teamDrive` (C). Methods of about, comments and
 * replies refuse to run without `fields`; their defaults here are a minimal guess (C).
 */
const DEFAULT_FIELD_SPECS: Record<ResourceKind, string> = {
  file: 'kind,id,name,mimeType',
  fileList: 'kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)',
  permission: 'kind,id,type,role',
  permissionList: 'kind,nextPageToken,permissions(kind,id,type,role)',
  revision: 'kind,id,mimeType,modifiedTime',
  revisionList: 'kind,nextPageToken,revisions(kind,id,mimeType,modifiedTime)',
  drive: 'kind,id,name',
  driveList: 'kind,nextPageToken,drives(kind,id,name)',
  change:
    'kind,changeType,type,time,removed,fileId,file(kind,id,name,mimeType),driveId,drive(kind,id,name),teamDriveId,teamDrive(kind,id,name)',
  changeList:
    'kind,nextPageToken,newStartPageToken,changes(kind,changeType,type,time,removed,fileId,file(kind,id,name,mimeType),driveId,drive(kind,id,name),teamDriveId,teamDrive(kind,id,name))',
  startPageToken: 'kind,startPageToken',
  channel: 'kind,id,resourceId,resourceUri,token,expiration',
  user: 'kind,displayName,photoLink,me,permissionId,emailAddress',
  about: 'kind',
  comment: 'kind,id',
  commentList: 'kind,nextPageToken,comments(kind,id)',
  reply: 'kind,id',
  replyList: 'kind,nextPageToken,replies(kind,id)',
};

/** Drive's default field set for each resource, as a mask. */
export const defaultFieldMasks: Readonly<Record<ResourceKind, FieldMask>> = perKind((kind) =>
  parseFields(DEFAULT_FIELD_SPECS[kind]),
);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function projectValue(value: unknown, mask: FieldMask, spec: FieldSpec): unknown {
  if (Array.isArray(value)) return value.map((item) => projectValue(item, mask, spec));
  if (!isPlainObject(value)) return value;
  if (spec === 'scalar') return value;
  if (spec === 'map') return projectObject(value, mask, {});
  return projectObject(value, mask, specOf(spec));
}

/**
 * The class of objects a renderer already built from the request's own mask
 * (`renderFileFields`): the response's projection passes them through instead of projecting
 * them a second time. A class, not a WeakSet, because a page marks a thousand of them and
 * `instanceof` costs nothing. JSON serialises it as a plain object.
 */
export class ProjectedResource {
  [field: string]: unknown;
}

function projectObject(
  value: Record<string, unknown>,
  mask: FieldMask,
  schema: ObjectSpec,
): Record<string, unknown> {
  if (value instanceof ProjectedResource || mask.get('*') === true) return value;
  const out: Record<string, unknown> = {};
  // Only selected keys are read: renderers define costly fields as lazy getters.
  for (const [name, sub] of mask) {
    const field = value[name];
    if (field === undefined || field === null) continue;
    if (sub === true) {
      out[name] = field;
      continue;
    }
    const spec = Object.hasOwn(schema, name) ? (schema[name] as FieldSpec) : 'map';
    out[name] = projectValue(field, sub, spec);
  }
  return out;
}

/** Projects the value of field `name` of a `kind` resource by its sub-mask, as `projectResource` would. */
export function projectField(value: unknown, sub: FieldMask, kind: ResourceKind, name: string): unknown {
  const schema = resourceSchemas[kind];
  return projectValue(value, sub, Object.hasOwn(schema, name) ? (schema[name] as FieldSpec) : 'map');
}

/** What a request selects of an embedded resource: nothing, all of it, or the fields of a sub-mask. */
export type Selection = FieldMask | 'all' | 'none';

/**
 * The selection a request's `fields` (Drive's default set for `kind` when absent) makes at
 * `path` inside a `kind` resource: `files` of a fileList, `changes/file` of a changeList,
 * or the resource itself for an empty path.
 */
export function selectionOf(
  mask: FieldMask | undefined,
  kind: ResourceKind,
  path: readonly string[],
): Selection {
  let current: FieldMask = mask ?? defaultFieldMasks[kind];
  for (const name of path) {
    if (current.get('*') === true) return 'all';
    const next = current.get(name);
    if (next === undefined) return 'none';
    if (next === true) return 'all';
    current = next;
  }
  return current.get('*') === true ? 'all' : current;
}

/**
 * The part of `value` that `mask` selects; Drive's default field set for `kind` when `mask`
 * is undefined. Validate the mask first (`validateFields`): unknown names select nothing here.
 */
export function projectResource<T extends object>(
  value: T,
  mask: FieldMask | undefined,
  kind: ResourceKind,
): Partial<T> {
  const effective = mask ?? defaultFieldMasks[kind];
  return projectObject(value as Record<string, unknown>, effective, resourceSchemas[kind]) as Partial<T>;
}

/** A mask back in `fields` syntax (stable order: as parsed). Useful in logs and tests. */
export function formatFields(mask: FieldMask): string {
  return [...mask].map(([name, sub]) => (sub === true ? name : `${name}(${formatFields(sub)})`)).join(',');
}
