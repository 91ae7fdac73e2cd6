// Whether the worker traces, from the standard OpenTelemetry variables: off unless an exporter is asked for, so a
// worker started without any OTEL_* variable starts no SDK and loads no OpenTelemetry code.

export type TracingSettings = { enabled: true; exporter: string } | { enabled: false; reason: string };

type Env = Record<string, string | undefined>;

/**
 * On when OTEL_TRACES_EXPORTER names an exporter (otlp, console, zipkin; not `none`), or an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, exporter otlp); off when OTEL_SDK_DISABLED
 * is true, whatever else is set. OTEL_SERVICE_NAME alone turns nothing on.
 */
export function tracingSettings(env: Env): TracingSettings {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return { enabled: false, reason: 'OTEL_SDK_DISABLED=true' };
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  if (exporters.includes('none')) return { enabled: false, reason: 'OTEL_TRACES_EXPORTER=none' };
  if (exporters.length) return { enabled: true, exporter: exporters.join(',') };
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) return { enabled: true, exporter: 'otlp' };
  return { enabled: false, reason: 'no OTEL_TRACES_EXPORTER or OTLP endpoint set' };
}
