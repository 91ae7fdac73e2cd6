"""Second, independent computation of the expected values used by the statistics tests.

Written straight from DOMAIN.md (Flagsmith) and gbstats' Python sources (frequentist/tests.py TwoSidedTTest and
OneSided*TTest, bayesian EffectBayesianABTest with a flat prior, SequentialTwoSidedTTest, RegressionAdjustedStatistic),
with scipy.stats for every distribution, so nothing is shared with the TypeScript under test. Run it with
`python3 test/unit/statistics/reference-values.py` (numpy + scipy) and compare with the constants in the tests.
"""
import json
import numpy as np
from scipy.stats import norm, t, truncnorm

Z = 1.959963984540054


def moments(n, s, ss, occurrence):
    mean = s / n
    sample_var = max(0.0, (ss - s * s / n) / (n - 1))
    gb_var = mean * (1 - mean) if occurrence else sample_var
    return mean, sample_var, gb_var


def delta(mc, vc, nc, mt, vt, nt):
    lift = (mt - mc) / mc
    var = vt / (nt * mc**2) + mt**2 * vc / (nc * mc**4)
    return lift, np.sqrt(var)


def welch(vc, nc, vt, nt):
    return (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1))


def ttest(lift, se, df, side, alpha):
    crit = lift / se
    if side == "two-sided":
        w = t.ppf(1 - alpha / 2, df) * se
        return {"pValue": 2 * t.sf(abs(crit), df), "ciLow": lift - w, "ciHigh": lift + w}
    w = t.ppf(1 - alpha, df) * se
    if side == "greater":
        return {"pValue": t.sf(crit, df), "ciLow": lift - w, "ciHigh": None}
    return {"pValue": t.cdf(crit, df), "ciLow": None, "ciHigh": lift + w}


def truncated_mean(mu, sigma, a, b):
    # gbstats.utils.truncated_normal_mean
    alpha, beta = (a - mu) / sigma, (b - mu) / sigma
    return truncnorm.mean(alpha, beta, loc=mu, scale=sigma)


def bayes(lift, se, alpha, inverse):
    ctw = norm.sf(0, lift, se)
    if inverse:
        ctw = 1 - ctw
    lo, hi = norm.ppf([alpha / 2, 1 - alpha / 2], lift, se)
    p_ctrl_better = norm.cdf(0.0, loc=lift, scale=se)
    risk_ctrl = (1 - p_ctrl_better) * truncated_mean(lift, se, 0, np.inf)
    risk_trt = -p_ctrl_better * truncated_mean(lift, se, -np.inf, 0.0)
    if inverse:
        risk_ctrl, risk_trt = risk_trt, risk_ctrl
    return {"chanceToWin": ctw, "ciLow": lo, "ciHigh": hi, "riskControl": risk_ctrl, "riskTreatment": risk_trt}


def sequential(lift, se, n, alpha, tau):
    rho = np.sqrt((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tau)
    s2 = se**2 * n
    hw = np.sqrt(s2) * np.sqrt(2 * (n * rho**2 + 1) * np.log(np.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2)
    st2 = lift**2 * n / se**2
    tr2p1 = n * rho**2 + 1
    evalue = np.exp(rho**2 * st2 / (2 * tr2p1)) / np.sqrt(tr2p1)
    return {"pValue": min(1 / evalue, 1), "ciLow": lift - hw, "ciHigh": lift + hw}


def cuped(c, tr, occurrence, side, alpha):
    # c, tr: dicts n, sum, sumSquares, sumX, sumX2, sumXY
    def stats(a):
        n = a["n"]
        my, mx = a["sum"] / n, a["sumX"] / n
        if occurrence:
            vy, vx, cov = my * (1 - my), mx * (1 - mx), a["sumXY"] / n - a["sum"] * a["sumX"] / n**2
        else:
            vy = (a["sumSquares"] - a["sum"] ** 2 / n) / (n - 1)
            vx = (a["sumX2"] - a["sumX"] ** 2 / n) / (n - 1)
            cov = (a["sumXY"] - a["sum"] * a["sumX"] / n) / (n - 1)
        return n, my, mx, vy, vx, cov

    joint = {k: c[k] + tr[k] for k in c}
    _, _, _, jvy, jvx, jcov = stats(joint)
    theta = 0.0 if jvx == 0 or jvy == 0 else jcov / jvx
    na, mya, mxa, vya, vxa, cova = stats(c)
    nb, myb, mxb, vyb, vxb, covb = stats(tr)
    lift = ((myb - theta * mxb) - (mya - theta * mxa)) / mya
    # gbstats frequentist_variance_relative_cuped
    v_trt = (vyb + theta**2 * vxb - 2 * theta * covb) / (nb * mya**2)
    const = -myb
    v_ctrl = (vya * const**2 / mya**2 + 2 * theta * cova * const / mya + theta**2 * vxa) / (na * mya**2)
    se = np.sqrt(v_trt + v_ctrl)
    df = welch(vya + theta**2 * vxa - 2 * theta * cova, na, vyb + theta**2 * vxb - 2 * theta * covb, nb)
    r = ttest(lift, se, df, side, alpha)
    return {"theta": theta, "lift": lift, "ciLow": r["ciLow"], "ciHigh": r["ciHigh"], "pValue": r["pValue"]}


def scenario(c, tr, occurrence, direction, side, alpha=0.05, tau=5000):
    mc, svc, gvc = moments(c["n"], c["sum"], c["sumSquares"], occurrence)
    mt, svt, gvt = moments(tr["n"], tr["sum"], tr["sumSquares"], occurrence)
    lift, se = delta(mc, svc, c["n"], mt, svt, tr["n"])
    ctw = norm.cdf(lift / se)
    if direction == "down":
        ctw = 1 - ctw
    out = {"lift": lift, "ciLow": lift - Z * se, "ciHigh": lift + Z * se, "chanceToWin": ctw}
    gl, gse = delta(mc, gvc, c["n"], mt, gvt, tr["n"])
    df = welch(gvc, c["n"], gvt, tr["n"])
    out["frequentist"] = {**ttest(gl, gse, df, side, alpha), "df": df}
    out["bayesian"] = bayes(gl, gse, alpha, direction == "down")
    out["sequential"] = sequential(gl, gse, c["n"] + tr["n"], alpha, tau)
    if "sumX" in c:
        out["cuped"] = cuped(c, tr, occurrence, side, alpha)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (float, np.floating)):
        return float(x)
    return x


def raw_cuped_data(seed, n_c, n_t, effect):
    # Individual-level data: y depends on the pre-period value x; a third of identities have no pre data (x = 0).
    rng = np.random.default_rng(seed)

    def arm(n, shift):
        has_pre = rng.random(n) < 2 / 3
        x = np.where(has_pre, rng.gamma(2.0, 5.0, n), 0.0)
        y = 3 + 0.8 * x + rng.normal(0, 4, n) + shift
        y = np.maximum(y, 0)
        return {"n": n, "sum": y.sum(), "sumSquares": (y * y).sum(), "sumX": x.sum(), "sumX2": (x * x).sum(),
                "sumXY": (x * y).sum(), "preN": int(has_pre.sum())}, x, y

    c, xc, yc = arm(n_c, 0.0)
    tr, xt, yt = arm(n_t, effect)
    x, y = np.concatenate([xc, xt]), np.concatenate([yc, yt])
    ols_slope = np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1)
    return c, tr, ols_slope


results = {}
occ_c = {"n": 1001, "sum": 100, "sumSquares": 100, "sumX": 90, "sumX2": 90, "sumXY": 40}
occ_t = {"n": 1000, "sum": 120, "sumSquares": 120, "sumX": 95, "sumX2": 95, "sumXY": 45}
results["occurrenceGoal"] = scenario(occ_c, occ_t, True, "up", "two-sided")
results["sumGuardrailNotIncrease"] = scenario(
    {"n": 1001, "sum": 5000, "sumSquares": 60000}, {"n": 1000, "sum": 5200, "sumSquares": 64000}, False, "down", "greater")
results["meanGuardrailNotDecreaseAlpha10"] = scenario(
    {"n": 240, "sum": 3120.5, "sumSquares": 61234.25}, {"n": 260, "sum": 3050.25, "sumSquares": 57002.5}, False, "up", "lesser",
    alpha=0.1, tau=1000)
c, tr, slope = raw_cuped_data(7, 800, 820, 0.9)
results["cupedRaw"] = {"control": c, "treatment": tr, "olsSlope": slope,
                       "expected": scenario(c, tr, False, "up", "two-sided")}
print(json.dumps(clean(results), indent=1))
