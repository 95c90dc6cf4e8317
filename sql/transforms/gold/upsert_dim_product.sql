-- gold.dim_product.
INSERT INTO gold.dim_product (product_id)
SELECT product_id FROM silver.products WHERE updated_at >= %(since)s
ON CONFLICT (product_id) DO NOTHING;
