-- Daily spend by provider, service, model and sub-account from FOCUS silver (BigQuery SQL).
-- @dates: the days this run re-derives — its window plus every day silver changed on since
-- gold last ran, so late rows and corrections reach gold whatever their delay.
SELECT
  x_charge_date AS charge_date,
  x_provider AS provider,
  ServiceName AS service_name,
  ServiceCategory AS service_category,
  x_model AS model,
  SubAccountId AS sub_account_id,
  SubAccountName AS sub_account_name,
  BillingCurrency AS billing_currency,
  SUM(BilledCost) AS billed_cost,
  SUM(EffectiveCost) AS effective_cost,
  SUM(ListCost) AS list_cost,
  COUNT(*) AS charge_rows,
  @run_id AS pipeline_logging_id,
  @now AS computed_at
FROM silver_cost.focus_daily
WHERE x_charge_date IN UNNEST(@dates)
GROUP BY
  charge_date, provider, service_name, service_category, model, sub_account_id,
  sub_account_name, billing_currency
