import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

// The real browser of the dashboard tests: Debian's chromium (`.ci/run` installs it), at CHROMIUM_PATH.

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches headless Chromium; a missing binary fails the test with what to do, it does not skip it. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: install it (apt-get install -y --no-install-recommends chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
}
