/**
 * A test hook, for tests only: `DAQFLOW_TEST_KILL_AFTER_PUBLISH=1` in the environment of `daqflow
 * up` makes the process kill itself (SIGKILL) right after an acquisition's file is published under
 * its final name and before `finished` is recorded: the window a restart must close by finding the
 * file its own (docs/acquisitions.md, "Crash and restart"). Unset (always, outside tests): no effect.
 */
export const KILL_AFTER_PUBLISH_ENV = 'DAQFLOW_TEST_KILL_AFTER_PUBLISH';

export const killAfterPublishTestHook = (env: NodeJS.ProcessEnv = process.env): boolean => env[KILL_AFTER_PUBLISH_ENV] === '1';
