/**
 * Makes an inspection payload safe and small before it leaves the process: secrets are replaced,
 * connection and other class instances are named instead of walked, and large values are cut.
 * Only plain objects and arrays are descended into, so anything unexpected is summarised, not shown.
 */

/** Placeholder for a redacted value. */
export const REDACTED = '[redacted]';

/** Limits of a redacted payload. */
export interface RedactOptions {
  /** Replace `script` fields and string command bodies (`body`, `raw`) too; default true. */
  readonly redactScripts?: boolean;
  /** Replace command output (`stdout`, `stderr`, `output` and their `_tail`/`_head` variants); default true. */
  readonly redactOutput?: boolean;
  /** Longest string kept, in characters; default 200. */
  readonly maxStringChars?: number;
  /** Most array items / object keys kept; default 20 / 30. */
  readonly maxItems?: number;
  readonly maxKeys?: number;
  /** Deepest nesting walked; default 5. */
  readonly maxDepth?: number;
  /** Upper bound of the JSON text of the result, in characters; default 2000. */
  readonly maxJsonChars?: number;
}

const DEFAULTS: Required<RedactOptions> = {
  redactScripts: true,
  redactOutput: true,
  maxStringChars: 200,
  maxItems: 20,
  maxKeys: 30,
  maxDepth: 5,
  maxJsonChars: 2000,
};

/** Key names whose values are secrets wherever they appear (tokens, passwords, signatures, keys). */
const SECRET_KEY =
  /(token|passw|secret|signature|^sig$|^sig[_-]|credential|creds|authoriz|cookie|private|seed|nkey|jwt|api[_-]?key|^kanade-sig)/i;
/** Keys that hold a live NATS connection. */
/** Keys holding a command body (script text or the raw message as text). */
const SCRIPT_KEY = /^(script|scripts|body|raw|command_body)$/i;
/** Keys holding what a command printed. */
const OUTPUT_KEY = /^(stdout|stderr|output)([_-]?(tail|head|text))?$/i;
const CONNECTION_KEY = /^(nc|connection|natsConnection)$/;

/**
 * Returns a JSON-safe copy of `value` with secrets replaced and sizes bounded.
 *
 * @example
 * redactPayload({ type: 'x', token: 'abc', script: 'rm -rf /' }); // { type: 'x', token: '[redacted]', script: '[redacted script, 8 chars]' }
 */
export function redactPayload(value: unknown, options: RedactOptions = {}): unknown {
  const o = { ...DEFAULTS, ...options };
  const seen = new WeakSet<object>();
  let budget = o.maxJsonChars;

  const walk = (v: unknown, depth: number, key: string | undefined): unknown => {
    if (budget <= 0) return '…';
    if (key !== undefined) {
      if (SECRET_KEY.test(key)) return REDACTED;
      if (o.redactScripts && SCRIPT_KEY.test(key)) return typeof v === 'string' ? `[redacted script, ${v.length} chars]` : REDACTED;
      if (o.redactOutput && OUTPUT_KEY.test(key)) return typeof v === 'string' ? `[redacted output, ${v.length} chars]` : REDACTED;
      if (CONNECTION_KEY.test(key) && v !== null && typeof v === 'object') return '[nats connection]';
    }
    switch (typeof v) {
      case 'string': {
        const s = v.length > o.maxStringChars ? `${v.slice(0, o.maxStringChars)}…(+${v.length - o.maxStringChars} chars)` : v;
        budget -= s.length + 2;
        return s;
      }
      case 'number':
      case 'boolean':
        budget -= 6;
        return v;
      case 'bigint':
        budget -= 12;
        return `${v}n`;
      case 'undefined':
        return undefined;
      case 'function':
        return '[function]';
      case 'symbol':
        return String(v);
      default:
        break;
    }
    if (v === null) return null;
    const obj = v as object;
    if (seen.has(obj)) return '[circular]';
    if (ArrayBuffer.isView(obj)) return `[${obj.byteLength} bytes]`;
    if (obj instanceof Error) return { error: obj.name, message: walk(obj.message, depth + 1, 'message') };
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
    if (isActorRef(obj)) return `[actor ${(obj as { id: string }).id}]`;
    if (isNatsConnection(obj)) return '[nats connection]';
    if (depth >= o.maxDepth) return Array.isArray(obj) ? `[array(${obj.length})]` : '[object]';
    seen.add(obj);
    try {
      if (Array.isArray(obj)) {
        const out = obj.slice(0, o.maxItems).map((item) => walk(item, depth + 1, undefined));
        if (obj.length > o.maxItems) out.push(`…(+${obj.length - o.maxItems} items)`);
        return out;
      }
      const proto = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) return `[${(obj.constructor as { name?: string } | undefined)?.name || 'object'}]`;
      const out: Record<string, unknown> = {};
      const keys = Object.keys(obj);
      for (const k of keys.slice(0, o.maxKeys)) {
        if (budget <= 0) {
          out['…'] = 'truncated';
          break;
        }
        budget -= k.length + 4;
        out[k] = walk((obj as Record<string, unknown>)[k], depth + 1, k);
      }
      if (keys.length > o.maxKeys) out['…'] = `+${keys.length - o.maxKeys} keys`;
      return out;
    } finally {
      seen.delete(obj);
    }
  };
  return walk(value, 0, undefined);
}

function isActorRef(obj: object): boolean {
  const a = obj as { sessionId?: unknown; send?: unknown; getSnapshot?: unknown };
  return typeof a.sessionId === 'string' && typeof a.send === 'function' && typeof a.getSnapshot === 'function';
}

function isNatsConnection(obj: object): boolean {
  const n = obj as { publish?: unknown; subscribe?: unknown; drain?: unknown };
  return typeof n.publish === 'function' && typeof n.subscribe === 'function' && typeof n.drain === 'function';
}
