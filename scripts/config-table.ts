// Prints the README's configuration table from src/config.ts, the one place variables are defined.
import { configDocs } from '../src/config.js';

const rows = Object.entries(configDocs).map(([name, doc]) => {
  const fallback = doc.default === undefined ? '—' : `\`${doc.default}\``;
  const secret = 'secret' in doc && doc.secret ? ' (secret)' : '';
  return `| \`${name}\` | ${fallback} | ${doc.description}${secret} |`;
});
process.stdout.write(`${['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n')}\n`);
