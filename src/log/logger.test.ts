import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ERROR_CAUSE_DEPTH_MAX, createLogger, isLogLevel, serializeError } from './logger.js';
import type { LogLevel, LoggerOptions } from './logger.js';

const FIXED = new Date('2026-01-02T03:04:05.678Z');

function capture(options: Omit<LoggerOptions, 'stream'> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ clock: () => FIXED, ...options, stream: { write: (l: string) => lines.push(l) } });
  const parsed = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, parsed };
}

describe('logger', () => {
  it('writes one JSON object per line with ts, level, msg first, then bound fields', () => {
    const { logger, lines } = capture({ fields: { node: 'node-1' } });
    logger.info('started', { port: 7001 });
    assert.deepEqual(lines, [
      '{"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"started","node":"node-1","port":7001}\n',
    ]);
  });

  it('filters by level', () => {
    for (const level of ['debug', 'info', 'warn', 'error'] as LogLevel[]) {
      const { logger, parsed } = capture({ level });
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      const expected = { debug: ['d', 'i', 'w', 'e'], info: ['i', 'w', 'e'], warn: ['w', 'e'], error: ['e'] }[level];
      assert.deepEqual(
        parsed().map((l) => l['msg']),
        expected,
        `level ${level}`,
      );
      assert.equal(logger.isEnabled('debug'), level === 'debug');
      assert.equal(logger.isEnabled('error'), true);
    }
  });

  it('defaults to info', () => {
    const { logger, lines } = capture();
    logger.debug('hidden');
    assert.equal(lines.length, 0);
    assert.equal(logger.level, 'info');
  });

  it('child adds fields without changing the parent', () => {
    const { logger, parsed } = capture({ fields: { node: 'n1' } });
    const child = logger.child({ component: 'wal', node: 'n1' });
    child.warn('slow fsync');
    logger.warn('plain');
    const [a, b] = parsed();
    assert.deepEqual(a, { ts: FIXED.toISOString(), level: 'warn', msg: 'slow fsync', node: 'n1', component: 'wal' });
    assert.equal(b?.['component'], undefined);
  });

  it('evaluates dynamic fields at every line, and children keep them', () => {
    const { logger, parsed } = capture({ fields: { node: 'n1' } });
    let term = 1;
    const withTerm = logger.withDynamic(() => ({ term }));
    withTerm.info('a');
    term = 7;
    withTerm.child({ peer: 'n2' }).info('b');
    logger.info('c');
    assert.deepEqual(
      parsed().map((l) => [l['msg'], l['term'], l['peer']]),
      [
        ['a', 1, undefined],
        ['b', 7, 'n2'],
        ['c', undefined, undefined],
      ],
    );
  });

  it('call fields override bound and dynamic ones but never ts, level or msg', () => {
    const { logger, parsed } = capture({ fields: { node: 'n1' } });
    logger.withDynamic(() => ({ term: 1 })).error('real', { term: 2, msg: 'fake', level: 'debug', ts: 'x' });
    const [line] = parsed();
    assert.equal(line?.['msg'], 'real');
    assert.equal(line?.['level'], 'error');
    assert.equal(line?.['ts'], FIXED.toISOString());
    assert.equal(line?.['term'], 2);
  });

  it('a throwing dynamic provider does not lose the line', () => {
    const { logger, parsed } = capture();
    logger
      .withDynamic(() => {
        throw new Error('boom');
      })
      .info('still here');
    const [line] = parsed();
    assert.equal(line?.['msg'], 'still here');
    assert.equal((line?.['dynamicFieldsError'] as { message: string }).message, 'boom');
  });

  it('serialises errors with name, message, code, stack and cause', () => {
    const { logger, parsed } = capture();
    const cause = Object.assign(new Error('disk gone'), { code: 'EIO' });
    const err = Object.assign(new Error('append failed', { cause }), { code: 'wal-write' });
    logger.error('fatal', { err });
    const e = parsed()[0]?.['err'] as Record<string, unknown>;
    assert.equal(e['name'], 'Error');
    assert.equal(e['message'], 'append failed');
    assert.equal(e['code'], 'wal-write');
    assert.match(String(e['stack']), /append failed/);
    assert.equal((e['cause'] as Record<string, unknown>)['code'], 'EIO');
  });

  it('bounds cause chains', () => {
    let err = new Error('e0');
    for (let i = 1; i <= ERROR_CAUSE_DEPTH_MAX + 3; i += 1) err = new Error(`e${i}`, { cause: err });
    let depth = 0;
    let s: unknown = serializeError(err);
    while (typeof s === 'object' && s !== null && 'cause' in s) {
      s = (s as { cause: unknown }).cause;
      depth += 1;
    }
    assert.equal(depth, ERROR_CAUSE_DEPTH_MAX);
  });

  it('writes bigints as strings and byte arrays as their length', () => {
    const { logger, parsed } = capture();
    logger.info('x', { big: 2n ** 70n, data: new Uint8Array(5) });
    const [line] = parsed();
    assert.equal(line?.['big'], '1180591620717411303424');
    assert.equal(line?.['data'], '<5 bytes>');
  });

  it('keeps the line when fields are circular', () => {
    const { logger, parsed } = capture();
    const loop: Record<string, unknown> = {};
    loop['self'] = loop;
    logger.warn('circular', { loop });
    assert.equal(parsed()[0]?.['msg'], 'circular');
  });

  it('writes to a real stream', async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    createLogger({ stream, fields: { node: 'n9' } }).info('hello');
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    const line = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    assert.equal(line['node'], 'n9');
    assert.ok(!Number.isNaN(Date.parse(String(line['ts']))));
  });

  it('recognises level names', () => {
    assert.ok(isLogLevel('warn'));
    assert.ok(!isLogLevel('verbose'));
    assert.ok(!isLogLevel(3));
  });
});
