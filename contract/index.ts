/** The kanade wire contract as code: pure types, decoders, names and constants. Imports nothing else. */
export * from './decode.js';
export * from './constants.js';
export * from './names.js';
export * from './time.js';
export * from './humantime.js';
export * from './command.js';
export * from './exec-result.js';
export * from './event-started.js';
export * from './obs-event.js';
export * from './heartbeat.js';
export * from './hw-inventory.js';
export * from './config-scope.js';
export * from './groups.js';
export * from './command-keys.js';
export * from './signature.js';
export * from './run-messages.js';
export * from './timer.js';
