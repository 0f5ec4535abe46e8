-- Monthly spend by provider and service over all of silver (the table is rewritten each run,
-- so a month's total always includes late rows and corrections) (BigQuery SQL).
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
