import { ConfigError, loadConfig, type Config } from '../config.js';

/** Loads the configuration or prints the one-line reason and exits 2 (misconfiguration). */
export function loadConfigOrExit(options: { requireCommandKeys?: boolean } = {}): Config {
  try {
    return loadConfig(process.env, options);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
}
