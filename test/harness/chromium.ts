import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from './daqflowProcess.js';

/** Debian's Chromium (package `chromium`), installed by scripts/test-deps.sh. */
export const CHROMIUM = '/usr/bin/chromium';

/** Where browser tests write their screenshots (not committed). */
export const screenshotDir = resolve(repoRoot, 'test-results', 'screenshots');

/**
 * A headless Chromium. Without the background-networking flags it keeps trying to reach
 * Google's services, which a closed network refuses; playwright gives it a fresh profile.
 */
export const launchChromium = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/test-deps.sh as root (apt-get install chromium)`);
  mkdirSync(screenshotDir, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
};
