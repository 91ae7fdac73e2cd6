// The checks on a metric's `definition`, in order. Version 1 is `{"version": 1, "event": "<name>"}`; other keys
// are kept as sent.

export const SUPPORTED_DEFINITION_VERSIONS: readonly number[] = [1];

export const DEFINITION_MESSAGES = {
  notAnObject: 'Definition must be an object.',
  unsupportedVersion: "Definition must specify a supported 'version'.",
  missingEvent: "Definition must specify a non-empty 'event'.",
} as const;

/** The first rule `definition` breaks, as the reply's message, or null when it is valid. */
export function definitionError(definition: unknown): string | null {
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) return DEFINITION_MESSAGES.notAnObject;
  const { version, event } = definition as Record<string, unknown>;
  if (typeof version !== 'number' || !Number.isInteger(version) || !SUPPORTED_DEFINITION_VERSIONS.includes(version)) {
    return DEFINITION_MESSAGES.unsupportedVersion;
  }
  // A name of only whitespace names no event either.
  if (typeof event !== 'string' || event.trim() === '') return DEFINITION_MESSAGES.missingEvent;
  return null;
}
