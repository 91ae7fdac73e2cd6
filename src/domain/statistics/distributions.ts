// Normal, Student t and chi-square distributions, written out rather than taken from a library: jstat loses the
// tails (its normal cdf is 2 % off at z = −8 and its chi-square survival is 1 − cdf, so 0 for large statistics),
// and the accurate @stdlib functions are spread over several packages. Every survival function here is computed
// directly in its tail (never as 1 − cdf), so tiny p-values keep their relative accuracy: ~1e-14, degrading to
// ~1e-13 only for results below 1e-250 (the exponent itself then carries that error).

const LN_SQRT_2PI = 0.9189385332046728; // ln √(2π)
const SQRT_2PI = 2.5066282746310002;
const EPSILON = 1e-16;
const TINY = 1e-300; // keeps Lentz's continued fractions away from division by zero

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x);
  // Γ(x) = Γ(x + n) / (x (x + 1) … (x + n − 1)): shift into the range where Stirling's series is exact to 1e-17.
  let shifted = x;
  let product = 1;
  while (shifted < 10) {
    product *= shifted;
    shifted += 1;
  }
  return logGamma(shifted) - Math.log(product);
}

// δ(x) = ln Γ(x) − [(x − ½) ln x − x + ln √(2π)], by its asymptotic series; accurate to ~1e-17 for x ≥ 10.
function stirlingCorrection(x: number): number {
  const r = 1 / (x * x);
  return (
    (1 / 12 -
      r * (1 / 360 - r * (1 / 1260 - r * (1 / 1680 - r * (1 / 1188 - r * (691 / 360360 - r * (1 / 156 - r * (3617 / 122400)))))))) /
    x
  );
}

/** ln B(a, b), without the cancellation of ln Γ(a) − ln Γ(a + b) when one argument is large (e.g. t with large df). */
export function logBeta(a: number, b: number): number {
  const big = Math.max(a, b);
  const small = Math.min(a, b);
  if (big < 10) return logGamma(a) + logGamma(b) - logGamma(a + b);
  const bigMinusSum =
    -(big - 0.5) * Math.log1p(small / big) - small * Math.log(big + small) + small + stirlingCorrection(big) - stirlingCorrection(big + small);
  return logGamma(small) + bigMinusSum;
}

// ---------------------------------------------------------------------------------------------------------------
// Incomplete gamma: P(a, x) by its power series below x = a + 1, Q(a, x) by Legendre's continued fraction above.

function maxIterations(scale: number): number {
  // Both expansions need O(√scale) terms in the worst case.
  return 1000 + Math.ceil(20 * Math.sqrt(scale));
}

// ln(e^{−x} x^a / Γ(a)); for large a the rearranged form avoids subtracting two numbers of size a·ln a.
function logGammaPrefactor(a: number, x: number): number {
  if (a < 10) return a * Math.log(x) - x - logGamma(a);
  const u = (x - a) / a;
  return a * (Math.log1p(u) - u) + 0.5 * Math.log(a / (2 * Math.PI)) - stirlingCorrection(a);
}

function lowerGammaSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  const limit = maxIterations(a);
  for (let n = 1; n < limit; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(logGammaPrefactor(a, x));
}

// Continued fraction h with Γ(a, x) / Γ(a) = e^{−x} x^a h / Γ(a) (modified Lentz).
function upperGammaFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  const limit = maxIterations(a + x);
  for (let i = 1; i < limit; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return h;
}

/** Regularized lower incomplete gamma P(a, x). */
export function regularizedGammaP(a: number, x: number): number {
  if (!(a > 0) || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 0;
  if (x === Infinity) return 1;
  if (x < a + 1) return lowerGammaSeries(a, x);
  return 1 - Math.exp(logGammaPrefactor(a, x)) * upperGammaFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 − P(a, x), accurate when it is tiny. */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  if (x < a + 1) return 1 - lowerGammaSeries(a, x);
  return Math.exp(logGammaPrefactor(a, x)) * upperGammaFraction(a, x);
}

// ---------------------------------------------------------------------------------------------------------------
// Incomplete beta I_x(a, b) by its continued fraction, on whichever side converges fast.

function betaFraction(a: number, b: number, x: number): number {
  const sum = a + b;
  let c = 1;
  let d = 1 - (sum * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  const limit = maxIterations(Math.max(a, b));
  for (let m = 1; m < limit; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (sum + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return h;
}

/**
 * Regularized incomplete beta I_x(a, b). `y` is 1 − x; pass it when the caller can form it without rounding
 * (the t distribution can), so that x near 1 loses nothing.
 */
export function regularizedBeta(x: number, a: number, b: number, y: number = 1 - x): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logX = x <= 0.5 ? Math.log(x) : Math.log1p(-y);
  const logY = y <= 0.5 ? Math.log(y) : Math.log1p(-x);
  const front = Math.exp(a * logX + b * logY - logBeta(a, b));
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(a, b, x)) / a;
  return 1 - (front * betaFraction(b, a, y)) / b;
}

// ---------------------------------------------------------------------------------------------------------------
// Normal distribution.

// e^{−z²/2} with z² split so that its large part is exact: exp of a rounded z² would lose ~z²·1e-16 relatively.
function expMinusHalfSquare(z: number): number {
  const high = Math.round(z * 65536) / 65536;
  const low = z - high;
  return Math.exp(-0.5 * high * high) * Math.exp(-low * (high + 0.5 * low));
}

/** Standard normal density φ(z). */
export function normalPdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (Math.abs(z) > 40) return 0;
  return expMinusHalfSquare(z) / SQRT_2PI;
}

/** Standard normal survival 1 − Φ(z), computed in the upper tail directly. */
export function normalSf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z < 0) return 1 - normalSf(-z);
  if (z > 40) return 0;
  if (z < 2) {
    // Φ(z) − ½ = φ(z) Σ z^{2n+1} / (1·3·…·(2n+1)); all terms positive, so no cancellation inside the sum.
    const z2 = z * z;
    let term = z;
    let sum = z;
    for (let n = 1; n < 200 && term > sum * EPSILON; n++) {
      term *= z2 / (2 * n + 1);
      sum += term;
    }
    return 0.5 - normalPdf(z) * sum;
  }
  // Q(z) = ½ Γ(½, z²/2) / Γ(½) = ½ φ(z) z h(½, z²/2).
  return 0.5 * normalPdf(z) * z * upperGammaFraction(0.5, 0.5 * z * z);
}

/** Standard normal distribution function Φ(z). */
export function normalCdf(z: number): number {
  return normalSf(-z);
}

// Acklam's rational approximation (relative error 1.15e-9), refined below to full precision.
const ACKLAM_A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const ACKLAM_B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const ACKLAM_C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

function acklamLowerHalf(p: number): number {
  const [a0, a1, a2, a3, a4, a5] = ACKLAM_A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = ACKLAM_B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = ACKLAM_C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = ACKLAM_D as [number, number, number, number];
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/** Standard normal quantile Φ⁻¹(p): Acklam's approximation polished by Halley steps on the accurate cdf. */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return Number.NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  // 1 − p is exact for p ≥ ½, so work in the lower half where Φ(x) − p keeps its relative accuracy.
  if (p > 0.5) return -normalQuantile(1 - p);
  let x = acklamLowerHalf(p);
  for (let i = 0; i < 3; i++) {
    const density = normalPdf(x);
    if (density === 0) break;
    const u = (normalCdf(x) - p) / density;
    const step = u / (1 + 0.5 * x * u);
    x -= step;
    if (Math.abs(step) <= 1e-16 * Math.abs(x)) break;
  }
  return x;
}

// ---------------------------------------------------------------------------------------------------------------
// Student t distribution.
//
// P(T > t) = ½ I_x(df/2, ½) with x = df / (df + t²). The beta continued fraction stalls for large df (its steps
// shrink below one ulp long before it has converged: 1e-8 relative error at df = 1e9), so above LARGE_T_DF we use
// the expansion I_x(a, ½) = Σ c_k Γ(k + ½, a·u) / (a^{k+½} B(a, ½)), u = −ln x, which comes from writing
// (1 − e^{−w})^{−½} = w^{−½} Σ c_k w^k under ∫_u^∞ e^{−a w} … dw; its terms fall like (k + a·u)/(2π a), fast
// wherever P(T > t) is representable at all (a·u < 745 there).
const LARGE_T_DF = 2000;
const SQRT_W_OVER_ONE_MINUS_EXP = seriesOfSqrtWOverOneMinusExp(30);

// Taylor coefficients of √(w / (1 − e^{−w})), by inverting (1 − e^{−w})/w = Σ (−w)^n/(n + 1)! and taking the root.
function seriesOfSqrtWOverOneMinusExp(terms: number): number[] {
  const h: number[] = [];
  let factorial = 1;
  for (let n = 0; n < terms; n++) {
    factorial *= n + 1;
    h.push((n % 2 === 0 ? 1 : -1) / factorial);
  }
  const inverse: number[] = [1];
  for (let n = 1; n < terms; n++) {
    let sum = 0;
    for (let j = 1; j <= n; j++) sum += h[j]! * inverse[n - j]!;
    inverse.push(-sum);
  }
  const root: number[] = [1];
  for (let n = 1; n < terms; n++) {
    let sum = 0;
    for (let j = 1; j < n; j++) sum += root[j]! * root[n - j]!;
    root.push((inverse[n]! - sum) / 2);
  }
  return root;
}

function studentTSfLargeDf(t: number, df: number): number {
  const a = df / 2;
  const u = Math.log1p((t / Math.sqrt(df)) ** 2);
  const z = a * u;
  const logZ = Math.log(z);
  const logA = Math.log(a);
  // scaled_k = Γ(k + ½, z) / a^k by Γ(s + 1, z) = s Γ(s, z) + z^s e^{−z}, starting from Γ(½, z) = √π erfc(√z).
  let scaled = 2 * Math.sqrt(Math.PI) * normalSf(Math.sqrt(2 * z));
  let sum = scaled;
  for (let k = 0; k + 1 < SQRT_W_OVER_ONE_MINUS_EXP.length; k++) {
    scaled = ((k + 0.5) * scaled + Math.exp((k + 0.5) * logZ - z - k * logA)) / a;
    const term = SQRT_W_OVER_ONE_MINUS_EXP[k + 1]! * scaled;
    sum += term;
    if (Math.abs(term) <= 1e-17 * sum) break;
  }
  return 0.5 * Math.exp(-logBeta(a, 0.5) - 0.5 * logA) * sum;
}

/** Student t survival P(T > t) for df > 0 (df need not be an integer: Welch df is not). */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (df === Infinity) return normalSf(t);
  if (t < 0) return 1 - studentTSf(-t, df);
  if (t === Infinity) return 0;
  if (df > LARGE_T_DF && Math.log1p((t / Math.sqrt(df)) ** 2) < 1) return studentTSfLargeDf(t, df);
  // x and 1 − x formed from r = t/√df, so that 1 − x is not rounded away when x is near 1.
  const r = t / Math.sqrt(df);
  let x: number;
  let y: number;
  if (r > 1e100) {
    x = 1 / r / r;
    y = 1;
  } else {
    const r2 = r * r;
    x = 1 / (1 + r2);
    y = r2 / (1 + r2);
  }
  return 0.5 * regularizedBeta(x, df / 2, 0.5, y);
}

/** Student t distribution function P(T ≤ t). */
export function studentTCdf(t: number, df: number): number {
  return studentTSf(-t, df);
}

/** Student t density. */
export function studentTPdf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (df === Infinity) return normalPdf(t);
  return Math.exp(-0.5 * Math.log(df) - logBeta(df / 2, 0.5) - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/** Student t quantile: the t with P(T ≤ t) = p. */
export function studentTQuantile(p: number, df: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1 || !(df > 0)) return Number.NaN;
  if (df === Infinity) return normalQuantile(p);
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  if (p === 0.5) return 0;
  // Solve in the upper tail (1 − p is exact for p ≥ ½) and use the symmetry.
  return p < 0.5 ? -upperTQuantile(p, df) : upperTQuantile(1 - p, df);
}

// The t > 0 with P(T > t) = q, for 0 < q < ½.
function upperTQuantile(q: number, df: number): number {
  if (df === 1) return 1 / Math.tan(Math.PI * q);
  if (df === 2) return (1 - 2 * q) / Math.sqrt(2 * q * (1 - q));
  // Start from the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), then Newton on ln P(T > t), which is
  // nearly linear in the tail; a bracket keeps every step honest.
  const z = -normalQuantile(q);
  const z2 = z * z;
  const g1 = (z * (z2 + 1)) / 4;
  const g2 = (z * ((5 * z2 + 16) * z2 + 3)) / 96;
  const g3 = (z * (((3 * z2 + 19) * z2 + 17) * z2 - 15)) / 384;
  const g4 = (z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945)) / 92160;
  let t = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
  if (!(t > 0) || !Number.isFinite(t)) t = z > 0 ? z : 1;
  let low = 0;
  let high = Infinity;
  const logQ = Math.log(q);
  for (let i = 0; i < 200; i++) {
    const sf = studentTSf(t, df);
    if (sf === q) return t;
    if (sf > q) low = t;
    else high = t;
    const density = studentTPdf(t, df);
    let next = sf > 0 && density > 0 ? t + ((Math.log(sf) - logQ) * sf) / density : Number.NaN;
    if (!(next > low && next < high)) next = high === Infinity ? 2 * t : 0.5 * (low + high);
    if (Math.abs(next - t) <= 4e-16 * t) return next;
    t = next;
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// Chi-square distribution.

/** Chi-square survival P(X > x) with k degrees of freedom, accurate for large statistics. */
export function chiSquareSf(x: number, k: number): number {
  if (Number.isNaN(x) || !(k > 0)) return Number.NaN;
  if (x <= 0) return 1;
  return regularizedGammaQ(k / 2, x / 2);
}

/** Chi-square distribution function P(X ≤ x). */
export function chiSquareCdf(x: number, k: number): number {
  if (Number.isNaN(x) || !(k > 0)) return Number.NaN;
  if (x <= 0) return 0;
  return regularizedGammaP(k / 2, x / 2);
}
