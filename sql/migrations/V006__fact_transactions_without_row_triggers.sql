-- gold.fact_transactions drops its foreign keys. PostgreSQL checks each one with a per-row
-- trigger: four of them took 27 of the 44 s that loading one day of 1M facts cost. The
-- refresh cannot break them: it takes every key from an inner join with its dimension (the
-- product by a left join, NULL when unknown) after upserting that day into gold.dim_date,
-- and dimension rows are updated in place, never deleted. tests/warehouse/test_refresh.py
-- checks that no fact points at a missing dimension row.
-- The smaller gold tables (2% alerts, aggregates) keep theirs: there they cost little.
ALTER TABLE gold.fact_transactions
    DROP CONSTRAINT fact_transactions_date_key_fkey,
    DROP CONSTRAINT fact_transactions_customer_key_fkey,
    DROP CONSTRAINT fact_transactions_store_key_fkey,
    DROP CONSTRAINT fact_transactions_product_key_fkey;
