import { describe, expect, it } from 'vitest';
import { tracingSettings } from '../../../src/telemetry/settings.js';

describe('tracingSettings', () => {
  it('is off when no OTEL_* variable asks for an exporter', () => {
    expect(tracingSettings({}).enabled).toBe(false);
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'worker' }).enabled).toBe(false);
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: ' ' }).enabled).toBe(false);
  });

  it('is on with an exporter or an OTLP endpoint', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console' })).toEqual({ enabled: true, exporter: 'console' });
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp, console' })).toEqual({ enabled: true, exporter: 'otlp,console' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ enabled: true, exporter: 'otlp' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toEqual({ enabled: true, exporter: 'otlp' });
  });

  it('is off when told so, whatever else is set', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toEqual({ enabled: false, reason: 'OTEL_TRACES_EXPORTER=none' });
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({ enabled: false, reason: 'OTEL_SDK_DISABLED=true' });
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }).enabled).toBe(true);
  });
});
