-- Monthly spend by provider and service over all of silver (BigQuery SQL). The table is
-- rewritten each run from the whole silver table, and silver re-derives every day whose raw
-- rows changed however late they landed, so a month's total includes late rows and
-- corrections (checked every simulated day by `convergence simulate`).
SELECT
  DATE_TRUNC(x_charge_date, MONTH) AS month,
  x_provider AS provider,
  ServiceName AS service_name,
  BillingCurrency AS billing_currency,
  SUM(BilledCost) AS billed_cost,
  SUM(EffectiveCost) AS effective_cost,
  SUM(ListCost) AS list_cost,
  COUNT(DISTINCT x_charge_date) AS days_with_spend,
  COUNT(*) AS charge_rows,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM silver_cost.focus_daily
GROUP BY month, provider, service_name, billing_currency
