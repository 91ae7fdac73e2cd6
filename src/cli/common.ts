import { ConfigError, loadConfig, type Config } from '../config.js';

/** Loads the configuration or prints the one-line reason and exits 2 (misconfiguration). */
export function loadConfigOrExit(options: { requireCommandKeys?: boolean } = {}): Config {
  const env = { ...process.env };
  // Commands that never verify signatures (migrate) must not demand keys.
  if (options.requireCommandKeys === false && !env.COMMAND_KEYS) env.COMMAND_KEYS = 'unused:unused:system';
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
