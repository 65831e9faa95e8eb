/** MIME types Drive treats specially, and the export table of DRIVE_API.md §1.6. */
export const FOLDER_MIME = 'application/vnd.google-apps.folder';
export const SHORTCUT_MIME = 'application/vnd.google-apps.shortcut';
export const DOCUMENT_MIME = 'application/vnd.google-apps.document';
export const SPREADSHEET_MIME = 'application/vnd.google-apps.spreadsheet';
export const PRESENTATION_MIME = 'application/vnd.google-apps.presentation';
export const DRAWING_MIME = 'application/vnd.google-apps.drawing';
export const SCRIPT_MIME = 'application/vnd.google-apps.script';
export const VID_MIME = 'application/vnd.google-apps.vid';

const GOOGLE_APPS_PREFIX = 'application/vnd.google-apps.';

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const XLSX_MIME = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
export const PPTX_MIME = 'application/vnd.openxmlformats-officedocument.presentationml.presentation';

export const EXPORT_FORMATS: Readonly<Record<string, readonly string[]>> = {
  [DOCUMENT_MIME]: [
    DOCX_MIME,
    'application/vnd.oasis.opendocument.text',
    'application/rtf',
    'application/pdf',
    'text/plain',
    'text/html',
    'application/zip',
    'application/epub+zip',
    'text/markdown',
  ],
  [SPREADSHEET_MIME]: [
    XLSX_MIME,
    'application/x-vnd.oasis.opendocument.spreadsheet',
    'application/vnd.oasis.opendocument.spreadsheet',
    'application/pdf',
    'application/zip',
    'text/csv',
    'text/tab-separated-values',
  ],
  [PRESENTATION_MIME]: [
    PPTX_MIME,
    'application/vnd.oasis.opendocument.presentation',
    'application/pdf',
    'text/plain',
    'image/jpeg',
    'image/png',
    'image/svg+xml',
  ],
  [DRAWING_MIME]: ['application/pdf', 'image/jpeg', 'image/png', 'image/svg+xml'],
  [SCRIPT_MIME]: ['application/vnd.google-apps.script+json'],
  [VID_MIME]: ['video/mp4'],
};

/** Uploads of these types may be converted on import (reported by about.importFormats). */
export const IMPORT_FORMATS: Readonly<Record<string, readonly string[]>> = {
  'text/plain': [DOCUMENT_MIME],
  'text/html': [DOCUMENT_MIME],
  'text/markdown': [DOCUMENT_MIME],
  [DOCX_MIME]: [DOCUMENT_MIME],
  'text/csv': [SPREADSHEET_MIME],
  [XLSX_MIME]: [SPREADSHEET_MIME],
  [PPTX_MIME]: [PRESENTATION_MIME],
};

export function isGoogleAppsType(mimeType: string): boolean {
  return mimeType.startsWith(GOOGLE_APPS_PREFIX);
}

/** Workspace (Docs Editors and friends): no bytes of their own, read through export. */
export function isWorkspaceType(mimeType: string): boolean {
  return isGoogleAppsType(mimeType) && mimeType !== FOLDER_MIME && mimeType !== SHORTCUT_MIME;
}

/** Files with bytes of their own: everything not native to Google. */
export function hasBinaryContent(mimeType: string): boolean {
  return !isGoogleAppsType(mimeType);
}

const EXTENSION_BY_MIME: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'text/markdown': 'md',
  'text/html': 'html',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/svg+xml': 'svg',
  'application/json': 'json',
  'application/zip': 'zip',
  'video/mp4': 'mp4',
  [DOCX_MIME]: 'docx',
  [XLSX_MIME]: 'xlsx',
  [PPTX_MIME]: 'pptx',
};

export function extensionFor(mimeType: string): string | undefined {
  return EXTENSION_BY_MIME[mimeType];
}

export function mimeTypeForName(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return undefined;
  const extension = name.slice(dot + 1).toLowerCase();
  for (const [mime, ext] of Object.entries(EXTENSION_BY_MIME)) if (ext === extension) return mime;
  return undefined;
}
