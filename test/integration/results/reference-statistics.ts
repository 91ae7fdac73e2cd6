// The results statistics worked out again for the end-to-end test, independently of src/domain/statistics: the
// distributions by numerical integration of their densities (Simpson's rule) and bisection, the blocks from the
// formulas of DOMAIN.md and the gbstats conventions CONTRACT.md names. Slow and plain on purpose.
import type { ReferenceArm } from './helpers.js';

export interface Settings {
  alpha: number;
  correction: 'holm' | 'bh' | 'none';
  tau: number;
}

export interface MetricSpec {
  aggregation: 'occurrence' | 'count' | 'sum' | 'mean';
  direction: string;
  expectedDirection: string;
}

/** Simpson's rule with `steps` (even) intervals. */
function integrate(f: (x: number) => number, a: number, b: number, steps = 4000): number {
  const h = (b - a) / steps;
  let total = f(a) + f(b);
  for (let i = 1; i < steps; i++) total += (i % 2 ? 4 : 2) * f(a + i * h);
  return (total * h) / 3;
}

/** Inverse of an increasing function by bisection on [lo, hi]. */
function invert(f: (x: number) => number, target: number, lo: number, hi: number): number {
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);
export const normalCdf = (x: number) => (Math.abs(x) > 12 ? (x > 0 ? 1 : 0) : 0.5 + Math.sign(x) * integrate(phi, 0, Math.abs(x)));
const normalQuantile = (p: number) => invert(normalCdf, p, -12, 12);

/** ln Γ(x), Lanczos (g = 7, nine coefficients). */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

function studentCdf(t: number, df: number): number {
  const k = Math.exp(logGamma((df + 1) / 2) - logGamma(df / 2)) / Math.sqrt(df * Math.PI);
  const pdf = (x: number) => k * Math.pow(1 + (x * x) / df, -(df + 1) / 2);
  return 0.5 + Math.sign(t) * integrate(pdf, 0, Math.min(Math.abs(t), 200), 20_000);
}
const studentQuantile = (p: number, df: number) => invert((x) => studentCdf(x, df), p, -200, 200);

/** E[max(X, 0)] for X ~ N(mean, sd²), by integrating x·density over x > 0. */
const expectedGain = (mean: number, sd: number) => integrate((x) => (x * phi((x - mean) / sd)) / sd, 0, Math.max(0, mean) + 14 * sd, 20_000);

const moments = (arm: { n: number; sum: number; sumSquares: number }, occurrence: boolean) => {
  const mean = arm.sum / arm.n;
  return { n: arm.n, mean, variance: occurrence ? mean * (1 - mean) : (arm.sumSquares - (arm.sum * arm.sum) / arm.n) / (arm.n - 1) };
};

const welch = (vc: number, nc: number, vt: number, nt: number) => (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1));

function tTest(lift: number, se: number, df: number, guardrail: string, alpha: number) {
  const t = lift / se;
  if (guardrail === 'not_increase') return { pValue: 1 - studentCdf(t, df), ciLow: lift - studentQuantile(1 - alpha, df) * se, ciHigh: null };
  if (guardrail === 'not_decrease') return { pValue: studentCdf(t, df), ciLow: null, ciHigh: lift + studentQuantile(1 - alpha, df) * se };
  const half = studentQuantile(1 - alpha / 2, df) * se;
  return { pValue: 2 * (1 - studentCdf(Math.abs(t), df)), ciLow: lift - half, ciHigh: lift + half };
}

/** Every block of one treatment against control (the minimum-sample rules are the caller's). */
export function referenceInference(spec: MetricSpec, control: ReferenceArm, treatment: ReferenceArm, s: Settings) {
  const occurrence = spec.aggregation === 'occurrence';
  const sign = spec.direction === 'down' ? -1 : 1;
  // Flagsmith: sample variances for every aggregation, 95 % whatever alpha is.
  const fc = moments(control, false);
  const ft = moments(treatment, false);
  const flift = (ft.mean - fc.mean) / fc.mean;
  const fse = Math.sqrt(ft.variance / (ft.n * fc.mean ** 2) + (ft.mean ** 2 * fc.variance) / (fc.n * fc.mean ** 4));
  const z95 = normalQuantile(0.975);
  const flagsmith = { lift: flift, ciLow: flift - z95 * fse, ciHigh: flift + z95 * fse, chanceToWin: normalCdf((sign * flift) / fse) };

  const c = moments(control, occurrence);
  const t = moments(treatment, occurrence);
  const lift = (t.mean - c.mean) / c.mean;
  const se = Math.sqrt(t.variance / (t.n * c.mean ** 2) + (t.mean ** 2 * c.variance) / (c.n * c.mean ** 4));
  const df = welch(c.variance, c.n, t.variance, t.n);
  const z = normalQuantile(1 - s.alpha / 2);
  const gain = sign * lift;
  const bayesian = { chanceToWin: normalCdf(gain / se), ciLow: lift - z * se, ciHigh: lift + z * se, riskControl: expectedGain(gain, se), riskTreatment: expectedGain(-gain, se) };
  const frequentist = { ...tTest(lift, se, df, spec.expectedDirection, s.alpha), df };

  // Waudby-Smith et al.'s asymptotic confidence sequence over n = nc + nt observations of variance se²·n.
  const n = control.n + treatment.n;
  const rho2 = (-2 * Math.log(s.alpha) + Math.log(1 - 2 * Math.log(s.alpha))) / s.tau;
  const v = n * rho2 + 1;
  const half = se * Math.sqrt(n) * Math.sqrt((2 * v * Math.log(Math.sqrt(v) / s.alpha)) / (n * n * rho2));
  const eValue = Math.exp((rho2 * ((lift * lift * n) / (se * se))) / (2 * v)) / Math.sqrt(v);
  const sequential = { pValue: Math.min(1, 1 / eValue), ciLow: lift - half, ciHigh: lift + half };

  return { ...flagsmith, bayesian, frequentist, sequential, cuped: control.pre.n + treatment.pre.n > 0 ? cuped(spec, control, treatment, s) : null };
}

/** CUPED with θ = cov(x, y)/var(x) over both arms pooled; proportions for occurrence metrics. */
function cuped(spec: MetricSpec, control: ReferenceArm, treatment: ReferenceArm, s: Settings) {
  const occurrence = spec.aggregation === 'occurrence';
  const stats = (n: number, sy: number, syy: number, sx: number, sxx: number, sxy: number) => {
    const my = sy / n;
    const mx = sx / n;
    return occurrence
      ? { n, my, mx, vy: my * (1 - my), vx: mx * (1 - mx), cov: sxy / n - mx * my }
      : { n, my, mx, vy: (syy - (sy * sy) / n) / (n - 1), vx: (sxx - (sx * sx) / n) / (n - 1), cov: (sxy - (sx * sy) / n) / (n - 1) };
  };
  const arm = (a: ReferenceArm) => stats(a.n, a.sum, a.sumSquares, a.pre.sumX, a.pre.sumX2, a.pre.sumXY);
  const pooled = stats(
    control.n + treatment.n,
    control.sum + treatment.sum,
    control.sumSquares + treatment.sumSquares,
    control.pre.sumX + treatment.pre.sumX,
    control.pre.sumX2 + treatment.pre.sumX2,
    control.pre.sumXY + treatment.pre.sumXY,
  );
  const theta = pooled.vx === 0 || pooled.vy === 0 ? 0 : pooled.cov / pooled.vx;
  const c = arm(control);
  const t = arm(treatment);
  const adjusted = (a: ReturnType<typeof arm>) => a.vy + theta * theta * a.vx - 2 * theta * a.cov;
  const lift = (t.my - theta * t.mx - (c.my - theta * c.mx)) / c.my;
  const r = t.my / c.my;
  const variance = adjusted(t) / (t.n * c.my ** 2) + (c.vy * r * r - 2 * theta * c.cov * r + theta * theta * c.vx) / (c.n * c.my ** 2);
  const se = Math.sqrt(variance);
  const test = tTest(lift, se, welch(adjusted(c), c.n, adjusted(t), t.n), spec.expectedDirection, s.alpha);
  return { theta, lift, ciLow: test.ciLow, ciHigh: test.ciHigh, pValue: test.pValue };
}

/** Holm or Benjamini–Hochberg adjusted p-values, in the order given. */
export function adjust(pValues: number[], correction: Settings['correction']): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const out = new Array<number>(m);
  if (correction === 'none') return [...pValues];
  if (correction === 'holm') {
    let best = 0;
    order.forEach(({ p, i }, rank) => (out[i] = best = Math.max(best, Math.min(1, (m - rank) * p))));
  } else {
    let best = 1;
    for (let rank = m - 1; rank >= 0; rank--) out[order[rank]!.i] = best = Math.min(best, Math.min(1, (m * order[rank]!.p) / (rank + 1)));
  }
  return out;
}
