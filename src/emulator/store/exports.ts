import { DOCUMENT_MIME, EXPORT_FORMATS, PRESENTATION_MIME, SPREADSHEET_MIME } from './mime.js';

/** Google's cap on files.export output (DRIVE_API §2). */
export const EXPORT_SIZE_LIMIT_BYTES = 10 * 1024 * 1024;

export function canExport(sourceMime: string, targetMime: string): boolean {
  return EXPORT_FORMATS[sourceMime]?.includes(targetMime) ?? false;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Spreadsheet bodies are kept as CSV; other types as plain text. */
function asCsv(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);
const ZIP_LOCAL_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const MP4_FTYP = Buffer.from([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x6d, 0x70, 0x34, 0x32]);

/**
 * Bytes in the target format: plausible (right magic numbers, right text shape) rather
 * than valid documents. Size is what a sync worker cares about, so `padTo` can inflate the
 * output to test the 10 MB cap.
 */
export function renderExport(
  source: { name: string; mimeType: string; text: string },
  targetMime: string,
  padTo: number | undefined,
): Buffer {
  const body = renderBody(source, targetMime);
  if (padTo === undefined || body.length >= padTo) return body;
  const filler = Buffer.alloc(padTo - body.length, targetMime.startsWith('text/') ? '\n' : ' ');
  return Buffer.concat([body, filler]);
}

function renderBody(source: { name: string; mimeType: string; text: string }, targetMime: string): Buffer {
  const { name, text } = source;
  switch (targetMime) {
    case 'text/plain':
      return Buffer.from(text, 'utf8');
    case 'text/markdown':
      return Buffer.from(`# ${name}\n\n${text}`, 'utf8');
    case 'text/html':
      return Buffer.from(
        `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeXml(name)}</title></head><body>${text
          .split('\n')
          .map((line) => `<p>${escapeXml(line)}</p>`)
          .join('')}</body></html>`,
        'utf8',
      );
    case 'text/csv':
      return Buffer.from(asCsv(text), 'utf8');
    case 'text/tab-separated-values':
      return Buffer.from(asCsv(text).replaceAll(',', '\t'), 'utf8');
    case 'application/rtf':
      return Buffer.from(`{\\rtf1\\ansi ${text.replaceAll('\n', '\\par ')}}`, 'utf8');
    case 'application/pdf':
      return Buffer.from(
        `%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% ${name}\n${text
          .split('\n')
          .map((line) => `% ${line}`)
          .join('\n')}\ntrailer << /Root 1 0 R >>\n%%EOF\n`,
        'utf8',
      );
    case 'image/svg+xml':
      return Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="960" height="540"><text x="10" y="20">${escapeXml(text.split('\n')[0] ?? name)}</text></svg>\n`,
        'utf8',
      );
    case 'image/png':
      return Buffer.concat([PNG_SIGNATURE, Buffer.from(text, 'utf8')]);
    case 'image/jpeg':
      return Buffer.concat([JPEG_START, Buffer.from(text, 'utf8'), Buffer.from([0xff, 0xd9])]);
    case 'video/mp4':
      return Buffer.concat([MP4_FTYP, Buffer.from(text, 'utf8')]);
    case 'application/vnd.google-apps.script+json':
      return Buffer.from(
        JSON.stringify({ files: [{ name: 'Code', type: 'server_js', source: text }] }),
        'utf8',
      );
    default:
      // docx/xlsx/pptx/odf/zip/epub are all zip containers.
      return Buffer.concat([ZIP_LOCAL_HEADER, Buffer.from(`${name}\n${text}`, 'utf8')]);
  }
}

/** Generated Workspace bodies: a few paragraphs, or CSV rows for spreadsheets. */
export function workspaceBodyFor(mimeType: string, name: string, paragraphs: readonly string[]): string {
  if (mimeType === SPREADSHEET_MIME) {
    return `name,row,value\n${paragraphs.map((p, i) => `${JSON.stringify(name)},${i + 1},${JSON.stringify(p)}`).join('\n')}\n`;
  }
  if (mimeType === PRESENTATION_MIME) return paragraphs.map((p, i) => `Slide ${i + 1}: ${p}`).join('\n');
  if (mimeType === DOCUMENT_MIME) return `${name}\n\n${paragraphs.join('\n\n')}\n`;
  return `${name}\n${paragraphs.join('\n')}\n`;
}
