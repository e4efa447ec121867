import {
  canTransition,
  IllegalSiphonTransition,
  SIPHON_STATES,
  SIPHON_TRANSITIONS,
  SiphonStateMachine,
  transition,
  type SiphonStateName,
} from '../../src/domain/siphon-state';

/** The lifecycle as the design draws it: booting → running ⇄ reloading → stopping → stopped. */
const LEGAL: ReadonlyArray<[SiphonStateName, SiphonStateName]> = [
  ['booting', 'running'],
  ['booting', 'stopping'],
  ['running', 'reloading'],
  ['running', 'stopping'],
  ['reloading', 'running'],
  ['reloading', 'stopping'],
  ['stopping', 'stopped'],
];
const isLegal = (from: SiphonStateName, to: SiphonStateName) => LEGAL.some(([f, t]) => f === from && t === to);
const ALL_PAIRS = SIPHON_STATES.flatMap((from) => SIPHON_STATES.map((to) => [from, to] as [SiphonStateName, SiphonStateName]));

describe('siphon state machine', () => {
  test('the transition table is exactly the designed lifecycle', () => {
    const table = Object.entries(SIPHON_TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => [from, to]));
    expect(table.sort()).toEqual([...LEGAL].sort());
  });

  test.each(ALL_PAIRS.filter(([f, t]) => isLegal(f, t)))('%s → %s is allowed', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(transition(from, to)).toBe(to);
  });

  test.each(ALL_PAIRS.filter(([f, t]) => !isLegal(f, t)))('%s → %s throws', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => transition(from, to)).toThrow(IllegalSiphonTransition);
    expect(() => transition(from, to)).toThrow(`illegal siphon transition ${from} → ${to}`);
  });

  test('stopped is final', () => {
    expect(SIPHON_TRANSITIONS.stopped).toEqual([]);
  });

  test('the machine reports each change and refuses an illegal one without moving', () => {
    const seen: string[] = [];
    const m = new SiphonStateMachine('booting', (to, from) => seen.push(`${from}>${to}`));
    m.to('running');
    m.to('reloading');
    m.to('running');
    expect(() => m.to('stopped')).toThrow(IllegalSiphonTransition);
    expect(m.state).toBe('running');
    m.to('stopping');
    m.to('stopped');
    expect(m.is('stopped')).toBe(true);
    expect(seen).toEqual(['booting>running', 'running>reloading', 'reloading>running', 'running>stopping', 'stopping>stopped']);
  });
});
