import { describe, expect, it } from 'vitest';
import { dashboardExpressions, metricNamesOf } from '../../integration/metrics/promql-names.js';

// The extractor the dashboard test relies on: a name it missed would be a metric the test never checks.
describe('metricNamesOf', () => {
  it('finds the metrics of Grafana-style expressions and nothing else', () => {
    expect(metricNamesOf('sum by (type, status) (rate(expw_commands_total{instance=~"$instance"}[$__rate_interval]))')).toEqual(['expw_commands_total']);
    expect(metricNamesOf('histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x="by (y)"}[5m])))')).toEqual(['a_seconds_bucket']);
    expect(metricNamesOf('sum(rate(a_sum[1m])) / sum(rate(a_count[1m])) > 0.5 or on (job) b offset 1h30m')).toEqual(['a_sum', 'a_count', 'b']);
    expect(metricNamesOf('max without (kind) (expw_parked_messages) * 1e3 + ${DS} - $var')).toEqual(['expw_parked_messages']);
    expect(metricNamesOf('up == bool 1 unless ignoring (instance) group_left (kind) other:recorded_rule')).toEqual(['up', 'other:recorded_rule']);
  });

  it('reads panel targets, nested rows and query variables', () => {
    const dashboard = {
      panels: [{ targets: [{ expr: 'a' }] }, { type: 'row', panels: [{ targets: [{ expr: 'b' }, {}] }] }],
      templating: { list: [{ type: 'query', query: { query: 'label_values(c_total, instance)' } }, { type: 'query', query: 'query_result(d)' }, { type: 'custom', query: 'x,y' }] },
    };
    expect(dashboardExpressions(dashboard).flatMap(metricNamesOf)).toEqual(['a', 'b', 'c_total', 'd']);
  });
});
