// Waiting for the signals that stop long-running commands (`node`, `local`).

export type StopSignal = 'SIGINT' | 'SIGTERM';
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];

/**
 * Calls `onFirst` on the first SIGINT/SIGTERM and `onRepeat` on each later one (the user insists).
 * Returns a function that removes the handlers.
 */
export function onStopSignals(onFirst: (signal: StopSignal) => void, onRepeat: (signal: StopSignal) => void): () => void {
  let seen = false;
  const handler = (signal: StopSignal): void => {
    if (seen) onRepeat(signal);
    else {
      seen = true;
      onFirst(signal);
    }
  };
  for (const s of STOP_SIGNALS) process.on(s, handler);
  return () => {
    for (const s of STOP_SIGNALS) process.off(s, handler);
  };
}
