/**
 * kafkajs 2.2.4 schedules a timer with a negative delay on Node ≥ 23, which prints one
 * harmless TimeoutNegativeWarning per process (RequestQueue.scheduleCheckPendingRequests).
 * Every other warning is still printed.
 */
export function quietKnownWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    process.stderr.write(`${warning.name}: ${warning.message}\n`);
  });
}
