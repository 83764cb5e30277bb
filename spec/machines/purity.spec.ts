/**
 * Issue #16 item 1: machines/ are pure statecharts. They say *when*; actors/ do the I/O. These
 * tests read the source (no hook, no lint rule): a machine that reaches the OS, the disk or the
 * network through an import, or reads the wall clock or a random source itself, fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MACHINES = path.join(ROOT, 'machines');

/** The only packages a machine may load at run time: the statechart runtime itself. */
const ALLOWED_PACKAGES = new Set(['xstate']);

function machineFiles(): string[] {
  return readdirSync(MACHINES)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(MACHINES, f))
    .sort();
}

/** Module specifiers a file loads at run time (type-only imports and exports are erased, so they are skipped). */
export function runtimeImports(source: string, fileName: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const stmt of sf.statements) {
    if (ts.isImportDeclaration(stmt) && ts.isStringLiteral(stmt.moduleSpecifier)) {
      const clause = stmt.importClause;
      if (clause?.isTypeOnly === true) continue;
      const bindings = clause?.namedBindings;
      const onlyTypes =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((e) => e.isTypeOnly);
      if (!onlyTypes) out.push(stmt.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(stmt) && stmt.moduleSpecifier !== undefined && ts.isStringLiteral(stmt.moduleSpecifier)) {
      if (stmt.isTypeOnly) continue;
      const clause = stmt.exportClause;
      if (clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly))
        continue;
      out.push(stmt.moduleSpecifier.text);
    }
  }
  // `import('x')` and `require('x')` load code too.
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0]!) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      out.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** A package name from a bare specifier (`@nats-io/kv/x` → `@nats-io/kv`). */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Walks the run-time import graph from `entry` and returns every forbidden load as
 * `"<chain> → <specifier>"`: a node builtin, or a package other than {@link ALLOWED_PACKAGES}.
 */
function ioReachedFrom(entry: string): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const here = [...chain, path.relative(ROOT, file)];
    for (const spec of runtimeImports(readFileSync(file, 'utf8'), file)) {
      if (spec.startsWith('.')) {
        walk(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')), here);
      } else if (spec.startsWith('node:') || !ALLOWED_PACKAGES.has(packageName(spec))) {
        found.push(`${here.join(' → ')} → ${spec}`);
      }
    }
  };
  walk(entry, []);
  return found;
}

describe('machines/ do no I/O (issue #16 item 1)', () => {
  it.each(machineFiles().map((f) => [path.basename(f), f]))(
    '%s reaches no node builtin or I/O package through its imports',
    (_name, file) => {
      expect(ioReachedFrom(file)).toEqual([]);
    },
  );

  it('the import walker sees through a relative import to a node builtin (so the test above can fail)', () => {
    expect(
      runtimeImports(
        "import { x } from './a.js';\nimport type { Y } from 'pino';\nimport { type Z } from '@nats-io/kv';\nimport fs from 'node:fs';\nconst m = await import('fs-extra');",
        'x.ts',
      ),
    ).toEqual(['./a.js', 'node:fs', 'fs-extra']);
  });

  it('scans a real actor file with I/O as impure (the walker is not vacuous)', () => {
    expect(ioReachedFrom(path.join(ROOT, 'actors/durable-fs.ts')).length).toBeGreaterThan(0);
  });
});

/** Calls a machine must not make itself: time and randomness come from input, actors from the system. */
const FORBIDDEN_CALLS: ReadonlyArray<readonly [string, RegExp]> = [
  ['Date.now()', /\bDate\.now\b/],
  ['new Date()', /\bnew Date\(\s*\)/],
  ['Math.random()', /\bMath\.random\b/],
  ['performance.now()', /\bperformance\.now\b/],
  ['createActor', /\bcreateActor\b/],
];

/** Source with comments removed, so a JSDoc `@example` may still show `createActor`. */
function codeOnly(source: string): string {
  const scanner = ts.createScanner(ts.ScriptTarget.ES2022, false, ts.LanguageVariant.Standard, source);
  let out = '';
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    if (kind === ts.SyntaxKind.SingleLineCommentTrivia || kind === ts.SyntaxKind.MultiLineCommentTrivia) continue;
    out += scanner.getTokenText();
  }
  return out;
}

describe('machines/ take now and random from input (issue #16 item 1)', () => {
  it.each(machineFiles().map((f) => [path.basename(f), f]))('%s calls no clock, random source or createActor', (_name, file) => {
    const code = codeOnly(readFileSync(file, 'utf8'));
    expect(FORBIDDEN_CALLS.filter(([, re]) => re.test(code)).map(([name]) => name)).toEqual([]);
  });

  it('the scan finds a call in code and ignores one in a comment', () => {
    const code = codeOnly('/** createActor(m) in an example */\nconst at = Date.now(); // Math.random()\n');
    expect(FORBIDDEN_CALLS.filter(([, re]) => re.test(code)).map(([name]) => name)).toEqual(['Date.now()']);
  });
});

/**
 * Types a machine context must not hold (issue #16 item 1, "no live resources in context"): a
 * connection, a runtime, an outbox, store or drain, or a function. The actor that owns such a thing
 * keeps it (the outbox child's actors find their outbox from the services; heartbeat's read the
 * broker hub's connection). `services`/`ports` — the injected environment every child gets as
 * input — are allowed.
 */
const LIVE_CONTEXT_TYPE = /\bNatsConnection\b|\bExecRuntime\b|\bDrainableOutbox\b|\bOutboxStore\b|\bOutboxDrain\b|=>/;

/**
 * Known debt, `file: field`: contexts that still hold a live resource. Entries may only go away;
 * any other field of a live type fails the test below.
 */
const CONTEXT_DEBT = new Set(['command-run-machine.ts: runtime', 'executor-machine.ts: runtime', 'executor-machine.ts: nc']);

/** `file: field` for every context property (of an interface named `…Context`) whose type is live. */
export function liveContextFields(source: string, fileName: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const stmt of sf.statements) {
    if (!ts.isInterfaceDeclaration(stmt) || !stmt.name.text.endsWith('Context')) continue;
    for (const member of stmt.members) {
      if (!ts.isPropertySignature(member) || member.type === undefined) continue;
      if (LIVE_CONTEXT_TYPE.test(member.type.getText(sf))) out.push(`${path.basename(fileName)}: ${member.name.getText(sf)}`);
    }
  }
  return out;
}

describe('machine contexts hold data, not live resources (issue #16 item 1)', () => {
  it.each(machineFiles().map((f) => [path.basename(f), f]))(
    '%s keeps no connection, runtime, outbox or function in context',
    (_name, file) => {
      expect(liveContextFields(readFileSync(file, 'utf8'), file).filter((field) => !CONTEXT_DEBT.has(field))).toEqual([]);
    },
  );

  it('the scan finds a connection and a closure in a context interface, and ignores other interfaces', () => {
    const source =
      'interface Context { readonly nc: NatsConnection | null; readonly release: () => void; readonly n: number }\n' +
      'interface Input { readonly nc: NatsConnection }';
    expect(liveContextFields(source, 'x-machine.ts')).toEqual(['x-machine.ts: nc', 'x-machine.ts: release']);
  });
});
