/**
 * Reads the Dockerfile and carries out its build on this machine, which has no Docker engine:
 * each stage gets a directory standing for its root filesystem, WORKDIR/ENV/COPY are applied to
 * it and RUN commands run in it, so that a test runs the very commands the image is built with.
 * Operating-system package installs (apt-get) are recorded, not run. Only the instructions the
 * Dockerfile uses are understood; any other one is an error, so the test cannot silently skip it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** One instruction, continuation lines joined, with its leading `--flag=value` options apart. */
export interface Instruction {
  op: string;
  flags: Record<string, string>;
  args: string;
}

/** A build stage: `FROM <image> AS <name>` and its instructions. */
export interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into its stages (global ARG defaults substituted into FROM). */
export function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  const globals: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const flags: Record<string, string> = {};
    let args = rest;
    for (let m = /^--([\w-]+)=(\S+)\s+/.exec(args); m; m = /^--([\w-]+)=(\S+)\s+/.exec(args)) {
      flags[m[1]] = m[2];
      args = args.slice(m[0].length);
    }
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [k, v = ''] = args.split('=');
      globals[k] = v;
    } else if (upper === 'FROM') {
      const [image, as, name] = args.split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, k: string) => globals[k] ?? '');
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : String(stages.length), image: resolved, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile: ${op} before the first FROM`);
      stages[stages.length - 1].instructions.push({ op: upper, flags, args });
    }
  }
  return stages;
}

/** `ENV A=1 B=2` → `{ A: '1', B: '2' }` (unquoted values, as this Dockerfile writes them). */
export function parseEnv(args: string): Record<string, string> {
  return Object.fromEntries(
    args
      .split(/\s+/)
      .filter(Boolean)
      .map((pair) => {
        const i = pair.indexOf('=');
        if (i < 0) throw new Error(`ENV ${args}: write KEY=value`);
        return [pair.slice(0, i), pair.slice(i + 1)];
      }),
  );
}

/** ENTRYPOINT / CMD in exec form (a JSON array), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  return JSON.parse(args) as string[];
}

/** What the build left in the final stage, in terms of this machine. */
export interface BuiltImage {
  /** The final stage's directory standing for `/`. */
  root: string;
  /** WORKDIR of the final stage, inside the image. */
  workdir: string;
  env: Record<string, string>;
  user?: string;
  stopSignal?: string;
  entrypoint: string[];
  cmd: string[];
  /** Packages the RUN lines install with apt-get (not run here). */
  osPackages: string[];
  /** The RUN commands that were run, per stage. */
  ran: { stage: string; command: string; ms: number }[];
  /** Maps a path inside the image to this machine (`/app/bin/ferry.js` → `<root>/app/bin/ferry.js`). */
  hostPath(imagePath: string): string;
}

/**
 * Builds every stage of `dockerfile` under `outDir` with `context` as the build context. RUN
 * commands run with `sh -c` and this machine's PATH and HOME (so npm uses its cache), plus ENV.
 */
export function buildHere(dockerfile: string, context: string, outDir: string): BuiltImage {
  const stages = parseDockerfile(fs.readFileSync(dockerfile, 'utf8'));
  const roots = new Map<string, string>();
  const osPackages: string[] = [];
  const ran: BuiltImage['ran'] = [];
  let final: Omit<BuiltImage, 'osPackages' | 'ran' | 'hostPath'> | undefined;
  for (const stage of stages) {
    const root = path.join(outDir, stage.name);
    fs.mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    const state = { root, workdir: '/', env: {} as Record<string, string>, entrypoint: [] as string[], cmd: [] as string[] } as NonNullable<
      typeof final
    >;
    const inImage = (p: string) => path.join(root, path.posix.isAbsolute(p) ? p : path.posix.join(state.workdir, p));
    for (const { op, flags, args } of stage.instructions) {
      switch (op) {
        case 'WORKDIR':
          state.workdir = path.posix.resolve(state.workdir, args);
          fs.mkdirSync(inImage('.'), { recursive: true });
          break;
        case 'ENV':
          Object.assign(state.env, parseEnv(args));
          break;
        case 'COPY': {
          const parts = execForm(args) ?? args.split(/\s+/);
          const dest = parts.pop()!;
          const from = flags.from ? roots.get(flags.from) : context;
          if (!from) throw new Error(`COPY --from=${flags.from}: no such stage before "${stage.name}"`);
          for (const src of parts) {
            const source = path.join(from, src);
            const target = inImage(dest);
            if (fs.statSync(source).isDirectory()) fs.cpSync(source, target, { recursive: true, verbatimSymlinks: true });
            else {
              const file = dest.endsWith('/') ? path.join(target, path.basename(src)) : target;
              fs.mkdirSync(path.dirname(file), { recursive: true });
              fs.copyFileSync(source, file);
            }
          }
          break;
        }
        case 'RUN': {
          if (/^apt-get\b/.test(args)) {
            const install = /apt-get install\s+((?:-\S+\s+)*)([^&;]+)/.exec(args);
            osPackages.push(...(install?.[2].trim().split(/\s+/) ?? []));
            break;
          }
          const started = Date.now();
          execFileSync('sh', ['-c', args], {
            cwd: inImage('.'),
            env: { PATH: process.env.PATH, HOME: process.env.HOME, ...state.env },
            stdio: 'pipe',
            maxBuffer: 64 * 1024 * 1024,
          });
          ran.push({ stage: stage.name, command: args, ms: Date.now() - started });
          break;
        }
        case 'USER':
          state.user = args;
          break;
        case 'STOPSIGNAL':
          state.stopSignal = args;
          break;
        case 'ENTRYPOINT':
        case 'CMD': {
          const form = execForm(args);
          if (!form) throw new Error(`${op} ${args}: use the exec form (a JSON array), or signals go to a shell`);
          if (op === 'ENTRYPOINT') state.entrypoint = form;
          else state.cmd = form;
          break;
        }
        default:
          throw new Error(`Dockerfile instruction ${op} is not understood by test/deploy/dockerfile.ts; teach it before using it`);
      }
    }
    final = state;
  }
  if (!final) throw new Error('Dockerfile has no stage');
  const root = final.root;
  return { ...final, osPackages, ran, hostPath: (p) => path.join(root, p) };
}
