import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The Dockerfile parsed and checked for the properties that matter, in a second (no hadolint
 * package here); `npm run test:image` builds and runs it (README, "The container image").
 */

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly from: string;
  readonly name: string | null;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  // Continuation lines are joined; comment lines inside a continuation are dropped, as Docker does.
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') {
      if (pending === '') continue;
      if (line.startsWith('#')) continue;
    }
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    if (line === '') continue;
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      const image = (match?.[1] ?? '').replace(/^\$\{(\w+)\}$/, (_m, name: string) => args.get(name) ?? '');
      stages.push({ from: image, name: match?.[2] ?? null, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
const final = dockerfile.stages.at(-1);
const all = (stage: Stage | undefined, keyword: string) =>
  stage?.instructions.filter((i) => i.keyword === keyword).map((i) => i.args) ?? [];

describe('Dockerfile', () => {
  it('is multi-stage on the Node major the project pins', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const major = /(\d+)/.exec(pkg.devDependencies.node ?? '')?.[1];
    expect(major).toBeDefined();
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) expect(stage.from).toMatch(new RegExp(`^node:${major}[.-]`));
  });

  it('builds with npm ci and npm run build, and copies the status page next to the compiled app', () => {
    const build = dockerfile.stages.find((s) => all(s, 'RUN').some((r) => r.includes('npm run build')));
    expect(build).toBeDefined();
    expect(all(build, 'RUN').some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    // `npm run build` copies the status page (package.json), so an image and a local build agree.
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toContain("cpSync('src/http/page', 'dist/http/page'");
  });

  it('ships production dependencies only, from a stage that installed them with --omit=dev', () => {
    const copies = all(final, 'COPY');
    const nodeModules = copies.find((c) => c.endsWith('./node_modules'));
    const source = /--from=(\S+)/.exec(nodeModules ?? '')?.[1];
    const depsStage = dockerfile.stages.find((s) => s.name === source);
    expect(all(depsStage, 'RUN').some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(all(final, 'RUN')).toEqual([]);
    expect(copies.some((c) => /^--from=\S+ \/app\/dist \.\/dist$/.test(c))).toBe(true);
    // Nothing from the build context but package.json reaches the final stage.
    expect(copies.filter((c) => !c.startsWith('--from='))).toEqual(['package.json ./']);
  });

  it('runs as a numeric non-root user, with a liveness HEALTHCHECK made with node, and the compiled entry point', () => {
    const user = all(final, 'USER').at(-1) ?? '';
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    const healthcheck = all(final, 'HEALTHCHECK').join(' ');
    expect(healthcheck).toContain('CMD ["node", "-e"');
    expect(healthcheck).toContain('/health/live');
    expect(healthcheck).toContain('fetch(');
    const commands = dockerfile.stages.flatMap((s) => s.instructions.map((i) => i.args));
    expect(commands.filter((c) => /\b(curl|wget)\b/.test(c))).toEqual([]);
    expect(all(final, 'CMD')).toEqual(['["node", "dist/main.js"]']);
    const instructions = final?.instructions.map((i) => i.keyword) ?? [];
    expect(instructions.indexOf('USER')).toBeLessThan(instructions.indexOf('CMD'));
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignore = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('**');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    for (const stage of dockerfile.stages) {
      for (const copy of all(stage, 'COPY')) {
        if (copy.startsWith('--from=')) continue;
        const sources = copy.split(/\s+/).slice(0, -1);
        for (const source of sources) {
          expect(existsSync(source), source).toBe(true);
          expect(
            allowed.some((a) => a === source || (a.endsWith('/**') && a.slice(0, -3) === source)),
            source,
          ).toBe(true);
        }
      }
    }
  });
});
