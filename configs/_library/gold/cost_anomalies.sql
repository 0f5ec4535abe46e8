-- Cost anomalies: a provider's daily BilledCost far outside its trailing baseline
-- (BigQuery SQL). Baseline = the provider's days with spend among the 14 days before the
-- day (the day itself excluded). A day is an anomaly when it has at least 5 baseline days,
-- |z| = |spend - mean| / stddev >= 3 AND spend/mean >= 1.5 (spike) or <= 0.5 (drop). Both
-- conditions: z alone fires on very steady series, the ratio alone on very small ones.
-- @dates: the days scored this run; the step's trailing_days (14) re-scores the 14 days after
-- any day whose spend changed, since that day is in their baselines.
WITH daily AS (
  SELECT
    x_provider AS provider,
    BillingCurrency AS billing_currency,
    x_charge_date AS charge_date,
    SUM(BilledCost) AS spend
  FROM silver_cost.focus_daily
  WHERE x_charge_date BETWEEN DATE_SUB(@window_start, INTERVAL 14 DAY) AND @window_end
  GROUP BY provider, billing_currency, charge_date
),
baseline AS (
  SELECT
    cur.provider,
    cur.billing_currency,
    cur.charge_date,
    cur.spend,
    COUNT(past.spend) AS baseline_days,
    CAST(AVG(past.spend) AS NUMERIC) AS baseline_mean,
    CAST(STDDEV_SAMP(past.spend) AS FLOAT64) AS baseline_stddev
  FROM daily AS cur
  JOIN daily AS past
    ON past.provider = cur.provider
    AND past.billing_currency = cur.billing_currency
    AND past.charge_date BETWEEN DATE_SUB(cur.charge_date, INTERVAL 14 DAY)
      AND DATE_SUB(cur.charge_date, INTERVAL 1 DAY)
  WHERE cur.charge_date IN UNNEST(@dates)
  GROUP BY cur.provider, cur.billing_currency, cur.charge_date, cur.spend
),
scored AS (
  SELECT
    *,
    spend - baseline_mean AS deviation,
    CAST(spend - baseline_mean AS FLOAT64) / baseline_stddev AS z_score,
    CAST(spend AS FLOAT64) / CAST(baseline_mean AS FLOAT64) AS ratio
  FROM baseline
  WHERE baseline_days >= 5 AND baseline_stddev > 0 AND baseline_mean > 0
)
SELECT
  charge_date,
  provider,
  billing_currency,
  spend,
  baseline_mean,
  baseline_stddev,
  baseline_days,
  deviation,
  z_score,
  ratio,
  IF(deviation > 0, 'spike', 'drop') AS direction,
  'trailing 14 days; >= 5 baseline days; |z| >= 3 and ratio >= 1.5 or <= 0.5' AS method,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM scored
WHERE ABS(z_score) >= 3 AND (ratio >= 1.5 OR ratio <= 0.5)
