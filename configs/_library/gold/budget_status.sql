-- Budgets: each budget's spend per month against its monthly amount, and a month-end forecast
-- for the month in progress (BigQuery SQL). docs/cost_intelligence.md#budgets-and-forecast
-- as_of_date: the last complete day (the day before @now). Spend: silver BilledCost in the
-- budget's currency and scope (providers, services, a tag) up to as_of_date.
-- Forecast (month in progress): month-to-date spend + for each remaining day of the month the
-- mean spend of the same weekday over the 28 days ending as_of_date (every weekday appears 4
-- times; a day without spend counts as 0). Band: ± the square root of the summed variances of
-- those weekday means' days (days assumed independent), the low end never below the spend so
-- far. Closed months: forecast = spend. Thresholds crossed compare exact decimals
-- (spend × 100 ≥ amount × threshold); forecasts are statistics rounded to the cent.
WITH as_of AS (
  SELECT DATE_SUB(DATE(@now), INTERVAL 1 DAY) AS as_of_date
),
charges AS (
  SELECT b.budget_name, s.x_charge_date AS day, SUM(s.BilledCost) AS cost
  FROM raw_budgets.budgets AS b
  JOIN silver_cost.focus_daily AS s
    ON s.BillingCurrency = b.currency
    AND (ARRAY_LENGTH(b.providers) = 0 OR s.x_provider IN UNNEST(b.providers))
    AND (ARRAY_LENGTH(b.services) = 0 OR s.ServiceName IN UNNEST(b.services))
    AND (
      b.label_pattern IS NULL
      OR IFNULL(REGEXP_CONTAINS(TO_JSON_STRING(s.Tags), b.label_pattern), FALSE)
    )
  CROSS JOIN as_of AS a
  WHERE s.x_charge_date <= a.as_of_date
  GROUP BY b.budget_name, day
),
months AS (
  SELECT DISTINCT budget_name, DATE_TRUNC(day, MONTH) AS month FROM charges
  UNION DISTINCT
  SELECT b.budget_name, DATE_TRUNC(a.as_of_date, MONTH) AS month
  FROM raw_budgets.budgets AS b
  CROSS JOIN as_of AS a
),
actuals AS (
  SELECT m.budget_name, m.month, SUM(c.cost) AS actual_cost
  FROM months AS m
  LEFT JOIN charges AS c
    ON c.budget_name = m.budget_name AND DATE_TRUNC(c.day, MONTH) = m.month
  GROUP BY m.budget_name, m.month
),
calendar AS (
  SELECT b.budget_name, d AS day
  FROM raw_budgets.budgets AS b
  CROSS JOIN as_of AS a
  CROSS JOIN UNNEST(
    GENERATE_DATE_ARRAY(DATE_SUB(a.as_of_date, INTERVAL 27 DAY), a.as_of_date)
  ) AS d
),
weekdays AS (
  SELECT
    k.budget_name,
    EXTRACT(DAYOFWEEK FROM k.day) AS weekday,
    AVG(CAST(IFNULL(c.cost, 0) AS FLOAT64)) AS rate,
    IFNULL(STDDEV_SAMP(CAST(IFNULL(c.cost, 0) AS FLOAT64)), 0) AS spread
  FROM calendar AS k
  LEFT JOIN charges AS c ON c.budget_name = k.budget_name AND c.day = k.day
  GROUP BY k.budget_name, weekday
),
remaining AS (
  SELECT b.budget_name, EXTRACT(DAYOFWEEK FROM d) AS weekday, COUNT(*) AS days
  FROM raw_budgets.budgets AS b
  CROSS JOIN as_of AS a
  CROSS JOIN UNNEST(
    GENERATE_DATE_ARRAY(DATE_ADD(a.as_of_date, INTERVAL 1 DAY), LAST_DAY(a.as_of_date))
  ) AS d
  GROUP BY b.budget_name, weekday
),
projection AS (
  SELECT
    r.budget_name,
    CAST(ROUND(SUM(r.days * w.rate), 2) AS NUMERIC) AS rest,
    CAST(ROUND(SQRT(SUM(r.days * w.spread * w.spread)), 2) AS NUMERIC) AS band
  FROM remaining AS r
  JOIN weekdays AS w ON w.budget_name = r.budget_name AND w.weekday = r.weekday
  GROUP BY r.budget_name
),
status AS (
  SELECT
    b.budget_name,
    t.month,
    b.currency,
    b.scope,
    b.monthly_amount AS budget_amount,
    b.actual_thresholds,
    b.forecast_thresholds,
    LEAST(LAST_DAY(t.month), a.as_of_date) AS as_of_date,
    EXTRACT(DAY FROM LAST_DAY(t.month)) AS days_in_month,
    EXTRACT(DAY FROM LEAST(LAST_DAY(t.month), a.as_of_date)) AS days_elapsed,
    IFNULL(t.actual_cost, CAST(0 AS BIGNUMERIC)) AS actual_cost,
    IF(t.month = DATE_TRUNC(a.as_of_date, MONTH), IFNULL(p.rest, 0), 0) AS rest,
    IF(t.month = DATE_TRUNC(a.as_of_date, MONTH), IFNULL(p.band, 0), 0) AS band
  FROM actuals AS t
  JOIN raw_budgets.budgets AS b ON b.budget_name = t.budget_name
  CROSS JOIN as_of AS a
  LEFT JOIN projection AS p ON p.budget_name = t.budget_name
),
forecast AS (
  SELECT *, actual_cost + rest AS forecast_cost FROM status
)
SELECT
  budget_name,
  month,
  currency,
  scope,
  budget_amount,
  as_of_date,
  days_in_month,
  days_elapsed,
  actual_cost,
  forecast_cost,
  GREATEST(forecast_cost - band, actual_cost) AS forecast_low,
  forecast_cost + band AS forecast_high,
  SAFE_DIVIDE(CAST(actual_cost AS FLOAT64) * 100, CAST(budget_amount AS FLOAT64))
    AS actual_percent,
  SAFE_DIVIDE(CAST(forecast_cost AS FLOAT64) * 100, CAST(budget_amount AS FLOAT64))
    AS forecast_percent,
  ARRAY(
    SELECT t FROM UNNEST(actual_thresholds) AS t
    WHERE actual_cost * 100 >= budget_amount * t
    ORDER BY t
  ) AS actual_thresholds_crossed,
  ARRAY(
    SELECT t FROM UNNEST(forecast_thresholds) AS t
    WHERE forecast_cost * 100 >= budget_amount * t
    ORDER BY t
  ) AS forecast_thresholds_crossed,
  'trailing 28-day weekday run rate; band ± sqrt(sum of weekday variances)' AS method,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM forecast
